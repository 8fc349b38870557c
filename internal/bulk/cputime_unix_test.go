//go:build unix

package bulk

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used, all threads included
// (ONNX Runtime's too), not its children's (MinIO's).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
