package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/facesearch/facesearch-operator/internal/assets"
)

// MinIOOptions configure a local MinIO server.
type MinIOOptions struct {
	// Binary is the minio executable; empty means assets.MinIOBinary.Path().
	Binary string
	// Dir holds the data; empty means a new temporary directory, removed by Stop.
	Dir string
	// Port is the loopback port; 0 picks a free one.
	Port int
	// AccessKey and SecretKey are the root credentials; empty means random ones.
	AccessKey, SecretKey string
	// Output receives the server's own log; nil discards it.
	Output io.Writer
}

// MinIOServer is a MinIO server process on the loopback interface.
type MinIOServer struct {
	// Endpoint is host:port, without scheme.
	Endpoint  string
	AccessKey string
	SecretKey string
	Dir       string

	opts    MinIOOptions
	tempDir bool
	cmd     *exec.Cmd
	exited  chan struct{}
}

// StartMinIO starts a MinIO server and waits until it answers its readiness probe and S3.
func StartMinIO(ctx context.Context, opts MinIOOptions) (*MinIOServer, error) {
	if opts.Binary == "" {
		p, err := assets.MinIOBinary.Path()
		if err != nil {
			return nil, err
		}
		opts.Binary = p
	}
	s := &MinIOServer{opts: opts, AccessKey: opts.AccessKey, SecretKey: opts.SecretKey, Dir: opts.Dir}
	if s.AccessKey == "" {
		s.AccessKey = "fs" + randomHex(8)
	}
	if s.SecretKey == "" {
		s.SecretKey = randomHex(20)
	}
	if s.Dir == "" {
		d, err := os.MkdirTemp("", "facesearch-minio-")
		if err != nil {
			return nil, err
		}
		s.Dir, s.tempDir = d, true
	}
	port := opts.Port
	if port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	s.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := s.start(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *MinIOServer) start(ctx context.Context) error {
	certs, err := os.MkdirTemp("", "facesearch-minio-certs-")
	if err != nil {
		return err
	}
	// An empty certs dir: a stray certificate elsewhere must never switch it to TLS.
	cmd := exec.Command(s.opts.Binary, "server", s.Dir+"/data", "--address", s.Endpoint, "--quiet", "--certs-dir", certs)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CONFIG_ENV_FILE=")
	out := s.opts.Output
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Killed by the kernel when this process ends, however it ends (see children.go).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	onSpawnThread(func() { err = cmd.Start() })
	if err != nil {
		os.RemoveAll(certs)
		return fmt.Errorf("while starting minio: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); os.RemoveAll(certs); close(s.exited) }()
	return s.waitReady(ctx, 60*time.Second)
}

func (s *MinIOServer) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	url := "http://" + s.Endpoint + "/minio/health/ready"
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("minio exited before it answered")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			// The health probe can answer before the object layer is initialised ("Server not
			// initialized yet"): up means an S3 call works.
			if resp.StatusCode == http.StatusOK && s.answersS3(ctx) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("minio at %s did not answer within %s", s.Endpoint, timeout)
}

func (s *MinIOServer) answersS3(ctx context.Context) bool {
	c, err := s.Client()
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = c.ListBuckets(ctx)
	return err == nil
}

// Client returns a minio-go client for the server with its root credentials.
func (s *MinIOServer) Client() (*minio.Client, error) {
	return minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
}

// Kill stops the server with SIGKILL, keeping its data: an outage as storage clients see it.
func (s *MinIOServer) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Restart starts the server again on the same address and data after Kill.
func (s *MinIOServer) Restart(ctx context.Context) error {
	s.Kill()
	return s.start(ctx)
}

// Stop ends the server and removes its data if the directory was a temporary one.
func (s *MinIOServer) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.Kill()
		}
	}
	s.cmd = nil
	if s.tempDir {
		os.RemoveAll(s.Dir)
	}
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
