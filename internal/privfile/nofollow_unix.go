//go:build unix

package privfile

import "syscall"

const noFollow = syscall.O_NOFOLLOW
