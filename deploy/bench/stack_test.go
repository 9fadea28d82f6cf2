package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeRoleEnv, set in a child's environment, makes the test binary stand in
// for the binary it was started as (through a symlink named sandbox,
// bff-web or bff-mobile): see fakeProcess.
const fakeRoleEnv = "BENCH_TEST_FAKE_PROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(fakeRoleEnv) != "" {
		fakeProcess()
		return
	}
	os.Exit(m.Run())
}

// fakeProcess serves 200 on the addresses a sandbox, a BFF or the
// reference is given. A BFF creates STATE_DIR/<name>.db exclusively, as the
// real one locks it: it exits at once when another process (or an earlier
// run) has that file, and answers GET /statedir with its STATE_DIR. Both
// answer GET /upstreams with the order service's URL they were given.
func fakeProcess() {
	name := filepath.Base(os.Args[0])
	var addrs []string
	ok := func(w http.ResponseWriter, r *http.Request) {}
	handler := http.HandlerFunc(ok)
	upstreams := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/upstreams" {
			io.WriteString(w, os.Getenv(upstreamURLEnv["order"]))
		}
	}
	switch name {
	case "sandbox":
		for _, k := range sandboxAddrEnv {
			addrs = append(addrs, os.Getenv(k))
		}
	case referenceName:
		addrs = append(addrs, os.Getenv("REFERENCE_ADDR"))
		handler = upstreams
	case "bff-web", "bff-mobile":
		addrs = append(addrs, os.Getenv(map[string]string{"bff-web": "BFF_WEB_ADDR", "bff-mobile": "BFF_MOBILE_ADDR"}[name]))
		dir := os.Getenv("STATE_DIR")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, name+".db"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			fatal(err)
		}
		f.Close()
		handler = func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/statedir" {
				io.WriteString(w, dir)
			}
			upstreams(w, r)
		}
	default:
		fatal(errors.New("unknown fake process " + name))
	}
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			fatal(err)
		}
		go http.Serve(l, handler)
	}
	select {} // until SIGTERM
}

func fatal(err error) {
	os.Stderr.WriteString(err.Error() + "\n")
	os.Exit(1)
}

// fakeBin returns a directory of symlinks to the test binary named after
// the binaries startStack runs.
func fakeBin(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range []string{"sandbox", "bff-web", "bff-mobile", referenceName} {
		if err := os.Symlink(exe, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// stateDirsIn lists what startStack left in tmp as state directories.
func stateDirsIn(t *testing.T, tmp string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tmp, "storefront-bench-state-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStackGivesEachBFFItsOwnStateDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinked fake binaries")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	inherited := filepath.Join(t.TempDir(), "inherited")
	environ := []string{fakeRoleEnv + "=1", "STATE_DIR=" + inherited}

	st, err := startStack(context.Background(), fakeBin(t), t.TempDir(), environ)
	if err != nil {
		t.Fatal(err)
	}
	defer st.stop()
	if !strings.HasPrefix(st.StateDir, tmp+string(filepath.Separator)) {
		t.Errorf("StateDir = %q, want a directory under the temp dir %q", st.StateDir, tmp)
	}
	seen := map[string]string{}
	for _, b := range bffs {
		resp, err := http.Get("http://" + st.BFFs[b.name].Addr + "/statedir")
		if err != nil {
			t.Fatal(err)
		}
		dir, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := string(dir)
		if filepath.Dir(got) != st.StateDir {
			t.Errorf("%s: STATE_DIR = %q, want a directory of its own in %q", b.name, got, st.StateDir)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("%s and %s share STATE_DIR %q", other, b.name, got)
		}
		seen[got] = b.name
	}
	if err := st.check(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(inherited); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the STATE_DIR in environ was used (stat: %v)", err)
	}

	st.stop()
	if left := stateDirsIn(t, tmp); len(left) != 0 {
		t.Errorf("after stop, state directories left: %v", left)
	}
}

func TestStackRemovesStateDirWhenStartFails(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if _, err := startStack(context.Background(), t.TempDir(), t.TempDir(), nil); err == nil {
		t.Fatal("startStack with no binaries succeeded")
	}
	if left := stateDirsIn(t, tmp); len(left) != 0 {
		t.Errorf("state directories left: %v", left)
	}
}

func TestStackStartsTheReferenceOnTheSameUpstreams(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinked fake binaries")
	}
	t.Setenv("TMPDIR", t.TempDir())
	st, err := startStack(context.Background(), fakeBin(t), t.TempDir(), []string{fakeRoleEnv + "=1"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.stop()
	want := "http://" + st.Sandbox["order"]
	for _, name := range []string{"bff-web", "bff-mobile-nocache", referenceName} {
		p := st.server(name)
		if p == nil {
			t.Fatalf("server(%q) = nil, want a started process", name)
		}
		resp, err := http.Get("http://" + p.Addr + "/upstreams")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != want {
			t.Errorf("%s: %s = %q, want %q", name, upstreamURLEnv["order"], got, want)
		}
	}
	if st.server("bff-none") != nil {
		t.Error(`server("bff-none") is not nil`)
	}
}
