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
// is (see dict_epoch.go): creating a file costs no sync of the dictionary. Data
// keys live in the key registry of package keys, wrapped under the master
// key.
//
// The files fall in three parts. fs.go holds every vfs.FS method, file.go
// the encrypting file, and the files beside them one concern of the FS
// each. The file dictionary is the dict*.go files, one concept each:
// dict.go (its type and options), dict_codec.go (the log's format),
// dict_recover.go (read, replay, reconcile), dict_log.go (the log's life),
// dict_read.go, dict_write.go, dict_state.go (the replayed map),
// dict_create.go and dict_epoch.go (the create path), dict_dirmove.go and
// dict_extdir.go (its side of directory renames and of directories
// outside the store), dict_record.go (record framing). Keys reach the FS
// through keycache.go (ciphers per data key) and rotation.go. Files outside
// the store are keyed by their directory's identifier (extdir.go).
//
// The promises the rest keeps, each in a file of its own: no keystream is
// applied to two plaintexts (overwrite.go; Pebble's secondary cache, which
// rewrites in place, is refused: secondarycache.go); one FS per store per
// process (storeid.go), and no Pebble on a store offline work holds
// (lockstore.go); an open forgets only files proven gone and fails
// closed on lost metadata (dict_recover.go's reconcile, failclosed.go); a read-only
// open changes nothing (readonly.go); directory renames carry their
// entries (dirmove.go); a checkpoint is a store of its own (checkpoint.go);
// metadata is private (private.go); Close waits for operations in flight
// (inflight.go); keys stay out of dumps (dumps.go); in Go's FIPS 140-3
// mode AES comes only from the standard library's module and SM4 is
// refused (fips.go).
//
// A Config (config.go, with Validate) is built in Go or read from a
// dialect with a file of its own: TiKV's TOML (config_tikv.go),
// CockroachDB's --enterprise-encryption spec (config_cockroach.go) and,
// for a master key alone, the one word tdectl's --new and --old take
// (config_keyspec.go).
//
// A Pebble user opens the FS and sets it as Options.FS:
//
//	cfg, err := engine.ParseTiKVConfig(tikvTOML)
//	fs, err := engine.Open(vfs.Default, dir, cfg)
//	db, err := pebble.Open(dir, &pebble.Options{FS: fs})
//	…
//	db.Close()
//	fs.Close()
package engine
