//go:build unix

package detect

import (
	"syscall"
	"time"
)

// cpuTime returns the user and system CPU time the process has used, on all
// threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
