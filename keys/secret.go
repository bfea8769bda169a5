package keys

import (
	"fmt"
	"io"
	"runtime"

	"github.com/tde-go/tde/internal/secmem"
)

// secret holds key bytes where fmt cannot reach them. Keeping them behind a
// pointer is not enough: fmt prints the fields of structs whose methods it
// cannot call (a DataKey inside someone's unexported field), and for a bad
// verb such as %s on a pointer it prints the pointee in full. It prints a
// func only as its address, so the bytes live inside a closure.
//
// The bytes themselves are outside the Go heap, in memory locked against
// swap and left out of core dumps where the OS allows (internal/secmem).
// destroy zeroes them; their memory goes back to the arena, zeroed again,
// only once the secret is unreachable, so a view taken before destroy
// reads zeros, never another key, for as long as its owner (a DataKey, a
// master key) is kept.
type secret struct {
	b func() []byte // nil once destroyed
}

func newSecret(b []byte) *secret {
	c, err := secmem.Alloc(len(b))
	if err != nil { // longer than a slot, which no key is
		c = make([]byte, len(b))
	}
	copy(c, b)
	s := &secret{b: func() []byte { return c }}
	runtime.AddCleanup(s, secmem.Free, c)
	return s
}

// bytes returns the key, or nil once destroyed.
func (s *secret) bytes() []byte {
	if s == nil || s.b == nil {
		return nil
	}
	return s.b()
}

// destroy zeroes the key and drops it.
func (s *secret) destroy() {
	if s == nil || s.b == nil {
		return
	}
	clear(s.b())
	s.b = nil
}

func (s *secret) Format(f fmt.State, _ rune) { io.WriteString(f, "[secret]") }

// randomBytes fills a new n-byte slice from r (crypto/rand outside tests).
func randomBytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("keys: reading random bytes: %w", err)
	}
	return b, nil
}
