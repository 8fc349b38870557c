package main

import (
	"bufio"
	"encoding/json"
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

// TestLocalLeavesNoProcess runs `facesearch local` as its own process until it prints its
// serving line, ends it, and checks that MinIO, etcd and kube-apiserver end with it: after
// SIGKILL, and after SIGABRT (a Go crash: the runtime exits), which run none of its
// clean-up, as after SIGTERM and SIGINT (Ctrl-C), which stop it in order.
func TestLocalLeavesNoProcess(t *testing.T) {
	graceful := map[syscall.Signal]bool{syscall.SIGTERM: true, syscall.SIGINT: true}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGABRT, syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			args, _ := json.Marshal([]string{"local", "--api-bind-address", "127.0.0.1:0",
				"--kubeconfig", filepath.Join(dir, "kubeconfig"), "--zap-log-level", "error"})
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(args),
				"AWS_ACCESS_KEY_ID=AKIDPROCESSTEST", "AWS_SECRET_ACCESS_KEY=process-test-secret")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

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
				for sc.Scan() { // keep the pipe drained
				}
			}()
			var line string
			select {
			case l, ok := <-serving:
				if !ok {
					t.Fatalf("facesearch local ended without its serving line:\n%s", strings.Join(lines, "\n"))
				}
				line = l
			case <-time.After(3 * time.Minute):
				t.Fatal("no serving line within 3 minutes")
			}
			if !strings.Contains(line, "Rekognition API http://127.0.0.1:") {
				t.Errorf("the serving line names no endpoint: %q", line)
			}

			procs := testenv.Descendants(cmd.Process.Pid)
			names := testenv.Names(procs)
			for _, want := range []string{"minio", "etcd", "kube-apiserver"} {
				if !slices.Contains(names, want) {
					t.Fatalf("no %s among the processes facesearch local started: %v", want, names)
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
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
