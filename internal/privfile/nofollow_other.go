//go:build !unix

package privfile

// noFollow: O_EXCL alone refuses an existing symlink where O_NOFOLLOW is
// missing.
const noFollow = 0
