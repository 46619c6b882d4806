//go:build !unix

package auditlog

import "time"

func cpuTime() time.Duration { return 0 }
