package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facesearch/facesearch-operator/internal/assets"
	"github.com/facesearch/facesearch-operator/internal/testenv"
)

// TestJavaScriptSDK drives `facesearch local`'s endpoint with the AWS SDK for JavaScript v3
// (test/jssdk/rekognition.mjs): collections, faces, users, a search, the error types as
// that SDK parses them, and ClientRequestToken retries. A second SDK, in another language,
// catches what the Go SDK forgives.
func TestJavaScriptSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (Debian: apt-get install nodejs npm): the JavaScript SDK test needs Node.js 20 or later")
	}
	sdk, err := assets.JSSDK.Path()
	if err != nil {
		if _, npmErr := exec.LookPath("npm"); npmErr != nil {
			t.Skip("npm is not installed (Debian: apt-get install npm), so hack/install-jssdk.sh cannot install the JavaScript SDK")
		}
		t.Fatal(err)
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(out))
	if major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(version, "v"), ".", 2)[0]); major < 20 {
		t.Fatalf("node %s: the JavaScript SDK needs Node.js 20 or later", version)
	}

	type person struct {
		UserID string   `json:"userId"`
		Enrol  []string `json:"enrol"`
		Probe  string   `json:"probe"`
	}
	var people []person
	for userID, dir := range map[string]string{"schneider": "John_Schneider", "simm": "John_Simm"} {
		files, _ := filepath.Glob(filepath.Join(testenv.TestFaces(t), "johns", dir, "*.jpg"))
		sort.Strings(files)
		if len(files) < 9 {
			t.Fatalf("%d photos of %s, want 9 or more", len(files), dir)
		}
		people = append(people, person{UserID: userID, Enrol: files[:2], Probe: files[8]})
	}
	sort.Slice(people, func(i, j int) bool { return people[i].UserID < people[j].UserID })

	const accessKey, secretKey = "AKIDJSSDKTEST", "jssdk-test-secret"
	// A process of its own: one process holds one local stack (controller names are global).
	stack := startLocalProcess(t, accessKey, secretKey)
	input, err := json.Marshal(map[string]any{
		"endpoint": stack.env["API_URL"], "accessKeyId": accessKey, "secretAccessKey": secretKey,
		"collectionId": "js_front_desk", "people": people,
	})
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "test", "jssdk", "rekognition.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	// Only what the script needs: no AWS_* variable of this machine may change what it does.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"FACESEARCH_JSSDK=" + sdk, "FACESEARCH_JSSDK_TEST=" + string(input),
		// The pinned SDK runs on Node.js 20 and says at every start that its releases after
		// early January 2027 need 22: moving the pin past those needs a newer Node.js.
		"AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true"}
	start := time.Now()
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", filepath.Base(script), err, output)
	}
	t.Logf("the JavaScript SDK (%s, node %s) in %s:\n%s", filepath.Base(sdk), version, time.Since(start).Round(time.Millisecond), output)
}
