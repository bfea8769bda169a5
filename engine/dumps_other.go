//go:build !unix

package engine

import "errors"

func disableCoreDumps() error {
	return errors.New("core dumps cannot be disabled on this platform")
}
