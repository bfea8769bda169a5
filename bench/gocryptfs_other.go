//go:build !linux

package bench

import (
	"errors"
	"time"
)

type gocryptfsMount struct{ plain string }

func (b *bench) mountGocryptfs() error { return errors.New("gocryptfs runs on Linux only") }

func (m *gocryptfsMount) unmount() error { return nil }

func (m *gocryptfsMount) cpu() time.Duration { return 0 }
