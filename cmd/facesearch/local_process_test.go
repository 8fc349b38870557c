package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// mainArgsEnv runs this test binary as the facesearch command, with the arguments given as a
// JSON list: for the tests that need the command as a process of its own.
const mainArgsEnv = "FACESEARCH_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(mainArgsEnv); args != "" {
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			panic(err)
		}
		os.Args = append(os.Args[:1], a...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// localProcess is `facesearch local` run as a process of its own (this test binary
// executed again), as a script runs it: it has printed its serving line.
type localProcess struct {
	cmd *exec.Cmd
	// env holds the lines of its --env-file.
	env map[string]string
	// serving is the serving line.
	serving string
	exited  chan error
}

// startLocalProcess starts `facesearch local` with the endpoint on a free port and the access
// key given, and waits for its serving line. It is killed, if still running, when the test
// ends.
func startLocalProcess(t *testing.T, accessKey, secretKey string) *localProcess {
	t.Helper()
	dir := t.TempDir()
	args, _ := json.Marshal([]string{"local", "--api-bind-address", "127.0.0.1:0", "--zap-log-level", "error",
		"--kubeconfig", filepath.Join(dir, "kubeconfig"), "--env-file", filepath.Join(dir, "env")})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(args),
		"AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &localProcess{cmd: cmd, exited: make(chan error, 1)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if err := <-p.exited; err != nil {
			t.Logf("facesearch local ended: %v", err) // killed: expected
		}
	})

	// Every line until the serving one, to show if it never comes.
	var lines []string
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "facesearch local: serving: ") {
				serving <- sc.Text()
				break
			}
			lines = append(lines, sc.Text())
		}
		close(serving)
		_, _ = io.Copy(io.Discard, stderr) // keep the pipe drained
		p.exited <- cmd.Wait()
	}()
	select {
	case line, ok := <-serving:
		if !ok {
			t.Fatalf("facesearch local ended without its serving line:\n%s", strings.Join(lines, "\n"))
		}
		p.serving = line
	case <-time.After(3 * time.Minute):
		t.Fatal("no serving line within 3 minutes")
	}
	// Written before the serving line, whole.
	data, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatalf("the serving line came before the env file: %v", err)
	}
	p.env = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		p.env[k] = v
	}
	return p
}

// TestLocalLeavesNoProcess runs `facesearch local` as its own process until it prints its
// serving line, ends it, and checks that MinIO, etcd and kube-apiserver end with it: after
// SIGKILL, and after SIGABRT (a Go crash: the runtime exits), which run none of its
// clean-up, as after SIGTERM and SIGINT (Ctrl-C), which stop it in order.
func TestLocalLeavesNoProcess(t *testing.T) {
	graceful := map[syscall.Signal]bool{syscall.SIGTERM: true, syscall.SIGINT: true}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGABRT, syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startLocalProcess(t, "AKIDPROCESSTEST", "process-test-secret")
			want := "Rekognition API " + p.env["API_URL"]
			if p.env["API_URL"] == "" || !strings.HasSuffix(p.serving, want) {
				t.Errorf("the serving line %q does not end with %q", p.serving, want)
			}
			if console := p.env["CONSOLE_URL"]; console != p.env["API_URL"]+"/console/" || !strings.Contains(p.serving, ", console "+console+", ") {
				t.Errorf("the console %q is not on the serving line %q", console, p.serving)
			}
			procs := testenv.Descendants(p.cmd.Process.Pid)
			names := testenv.Names(procs)
			for _, want := range []string{"minio", "etcd", "kube-apiserver"} {
				if !slices.Contains(names, want) {
					t.Fatalf("no %s among the processes facesearch local started: %v", want, names)
				}
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-p.exited:
				p.exited <- err // for the clean-up
				if graceful[sig] && err != nil {
					t.Errorf("after %s facesearch local exited with %v", sig, err)
				}
			case <-time.After(time.Minute):
				t.Fatalf("facesearch local still runs a minute after %s", sig)
			}
			testenv.WaitGone(t, procs, 5*time.Second)
		})
	}
}
