package chart

import (
	"os"
	"testing"
)

// osMkdirTemp makes the directory of the test binary; TestMain removes it.
func osMkdirTemp() (string, error) { return os.MkdirTemp("", "facesearch-chart-test-") }

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		_ = os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}
