package local

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The local stack's child processes must not outlive it, however it ends: a SIGKILL or a
// crash runs no deferred Stop. The kernel's parent-death signal (PR_SET_PDEATHSIG) covers
// every way out, so each child gets SIGKILL when its parent goes. MinIO is started here
// and gets it through SysProcAttr. envtest starts etcd and kube-apiserver itself, with no
// hook for SysProcAttr, so they are started through this binary instead (execChildInit):
// envtest runs a symlink named after the binary that points at the running executable,
// which sets the signal on itself and then execs the real binary, whose pid, process group
// and arguments stay what envtest expects. That is simpler than starting the control plane
// ourselves, and unlike a subreaper or a watchdog process it needs nothing alive to do the
// cleanup, and has no window in which a child is known to nobody.

// childEnv is set for the control plane's processes: "<parent pid>:<directory of the real
// binaries>". The parent pid lets the child see that its parent died before the signal was
// armed.
const childEnv = "FACESEARCH_LOCAL_EXEC"

// wrappedBinaries are the names execChildInit answers to.
var wrappedBinaries = []string{"etcd", "kube-apiserver"}

func init() {
	if spec, ok := os.LookupEnv(childEnv); ok {
		execChildInit(spec)
	}
}

// execChildInit turns this process into the control-plane binary it was started as, with
// SIGKILL as its parent-death signal. It returns only when this process is not such a child.
func execChildInit(spec string) {
	name := filepath.Base(os.Args[0])
	ppid, dir, ok := strings.Cut(spec, ":")
	if !slices.Contains(wrappedBinaries, name) || !ok {
		return
	}
	// The signal belongs to the thread, and must be on the one that calls execve.
	runtime.LockOSThread()
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "facesearch: starting %s: %v\n", name, err)
		os.Exit(1)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		fail(err)
	}
	if strconv.Itoa(os.Getppid()) != ppid {
		fail(fmt.Errorf("the parent %s is gone", ppid))
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, childEnv+"=") {
			env = append(env, kv)
		}
	}
	bin := filepath.Join(dir, name)
	fail(syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), env))
}

// wrapperDir makes a directory of symlinks, one for each wrapped binary, to the running
// executable, and arms execChildInit for the processes started through them. The caller
// removes the directory.
func wrapperDir(realDir string) (string, error) {
	dir, err := os.MkdirTemp("", "facesearch-exec-")
	if err != nil {
		return "", err
	}
	// /proc/<pid>/exe rather than the executable's path: it is still this binary if the file
	// is rebuilt or removed while the stack runs.
	self := fmt.Sprintf("/proc/%d/exe", os.Getpid())
	for _, name := range wrappedBinaries {
		if _, err := os.Stat(filepath.Join(realDir, name)); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	// envtest gives its processes this process's environment; the variable is harmless to
	// any other child, which does not answer to those names.
	if err := os.Setenv(childEnv, fmt.Sprintf("%d:%s", os.Getpid(), realDir)); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

var (
	spawnOnce sync.Once
	spawnc    = make(chan func())
)

// onSpawnThread runs f on one OS thread that lives as long as the process. The kernel sends
// the parent-death signal when the thread that forked the child exits, not the process, and
// Go ends a thread whenever a goroutine locked to it returns (any library may do that), so
// every child that has the signal is started from here.
func onSpawnThread(f func()) {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must not be reused or ended
			for f := range spawnc {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawnc <- func() { defer close(done); f() }
	<-done
}
