// Package keys holds the key hierarchy of tde: master keys (the
// key-encryption keys the user supplies and tde never writes), data keys
// (random, one per encryption method and rotation period, used by the engine
// to encrypt files), and the registry that stores the data keys wrapped under
// the master key in one file replaced atomically.
//
// A store opens its registry with [OpenRegistry], giving the current master
// key and, while a master key is being changed, the previous one. The
// registry rotates data keys when the active one ages past the rotation
// period, when the method changes and when the master key changes, and it
// forgets a key only when the caller says no file uses it ([Registry.Retain]).
//
// Master keys come from a hex key file ([LoadHexKeyFile], the TiKV
// convention), a raw key file ([LoadRawKeyFile], the CockroachDB
// convention), the AWS KMS API ([NewKMS]), or nowhere ([Plaintext]: no
// encryption, with a warning).
//
// Key bytes are kept behind pointers, zeroed on Destroy and Close, and never
// printed: every type here formats itself without its key material, and no
// error carries key bytes. The package knows nothing about Pebble; it reaches
// the disk through the small [FS] interface, which the engine adapts to
// Pebble's vfs.FS.
package keys
