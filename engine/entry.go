package engine

import "github.com/tde-go/tde/keys"

// entry is what the file dictionary records for one file: how its bytes are
// encrypted. A file with no entry was written before encryption was turned on
// and is read as plaintext.
type entry struct {
	Method keys.Method // keys.MethodPlaintext for a file written unencrypted
	KeyID  uint64      // the data key; 0 for plaintext
	IV     [16]byte    // counter block of the file's first 16 bytes
}
