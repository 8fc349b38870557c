package local_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/facesearch/facesearch-operator/internal/local"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// roleEnv runs this test binary as a process that starts MinIO and a control plane, says
// so on stdout and waits to be killed.
const roleEnv = "FACESEARCH_LOCAL_TEST_STACK"

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		os.Exit(runStack())
	}
	os.Exit(m.Run())
}

func runStack() int {
	mio, err := local.StartMinIO(context.Background(), local.MinIOOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer mio.Stop()
	cp, err := local.StartControlPlane()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer func() { _ = cp.Stop() }()
	fmt.Println("up")
	select {}
}

// TestChildrenDieWithTheirParent kills a process that started MinIO, etcd and kube-apiserver
// with SIGKILL, which runs none of its clean-up: the kernel must end all three.
func TestChildrenDieWithTheirParent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "up" {
		t.Fatalf("the stack did not start: %q, %v", line, err)
	}
	procs := testenv.Descendants(cmd.Process.Pid)
	names := testenv.Names(procs)
	for _, want := range []string{"minio", "etcd", "kube-apiserver"} {
		if !slices.Contains(names, want) {
			t.Fatalf("no %s among the processes started: %v", want, names)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	testenv.WaitGone(t, procs, 5*time.Second)
}

// TestChildrenOutliveTheThreadThatStartedThem: the parent-death signal follows the thread
// that forked, and Go ends a thread when a goroutine locked to it returns. Children started
// from such a goroutine must live on.
func TestChildrenOutliveTheThreadThatStartedThem(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	var mio *local.MinIOServer
	var cp *local.ControlPlane
	var err error
	tid := onEndingThread(func() {
		if mio, err = local.StartMinIO(context.Background(), local.MinIOOptions{}); err == nil {
			cp, err = local.StartControlPlane()
		}
	})
	if mio != nil {
		defer mio.Stop()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cp.Stop() }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d did not end: the test proves nothing", tid)
		}
	}
	// A killed child would be gone by now.
	time.Sleep(500 * time.Millisecond)
	resp, err := http.Get("http://" + mio.Endpoint + "/minio/health/live")
	if err != nil {
		t.Fatalf("MinIO died with the thread that started it: %v", err)
	}
	resp.Body.Close()
	client, err := rest.HTTPClientFor(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = client.Get(strings.TrimSuffix(cp.Config.Host, "/") + "/readyz")
	if err != nil {
		t.Fatalf("the control plane died with the thread that started it: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("kube-apiserver /readyz: %s", resp.Status)
	}
}

// onEndingThread runs f on a goroutine locked to its thread and returns when it is done,
// with the thread's id: the goroutine returns locked, so the runtime ends the thread. Not on
// the main thread, which the runtime never ends: a goroutine handed that one holds it while
// another tries.
func onEndingThread(f func()) int {
	release := make(chan struct{})
	defer close(release)
	for {
		tidc := make(chan int)
		go func() {
			runtime.LockOSThread()
			if syscall.Gettid() == syscall.Getpid() {
				tidc <- 0
				<-release
				runtime.UnlockOSThread()
				return
			}
			f()
			tidc <- syscall.Gettid()
		}()
		if tid := <-tidc; tid != 0 {
			return tid
		}
	}
}
