// Package engine is tde's encrypting Pebble filesystem: a vfs.FS that wraps
// another (the disk, a MemFS, a fault-injecting FS) and encrypts every file
// the store writes, with the data key active when the file was created and a
// fresh random IV, in AES-CTR or SM4-CTR. Offsets and sizes are unchanged: no
// header is added to data files.
//
// Which key and IV a file uses is recorded in the file dictionary, an
// append-only log of checksummed records (Pebble's record format) in the
// store directory, keyed by paths relative to that directory so a store can
// be moved. A file's record is durable before the file exists, or, for a
// file the store creates in its directory, implied by an epoch record that
// is (see epoch.go): creating a file costs no sync of the dictionary. Data
// keys live in the key registry of package keys, wrapped under the master
// key.
//
// A Pebble user opens the FS and sets it as Options.FS:
//
//	cfg, err := engine.ParseConfig(tikvTOML)
//	fs, err := engine.Open(vfs.Default, dir, cfg)
//	db, err := pebble.Open(dir, &pebble.Options{FS: fs})
//	…
//	db.Close()
//	fs.Close()
package engine
