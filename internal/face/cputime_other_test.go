//go:build !unix

package face

import "time"

func processCPU() time.Duration { return 0 }
