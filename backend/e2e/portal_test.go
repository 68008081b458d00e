// Package e2e tests the portal end to end in a real browser: the sslens
// binary and web/app.wasm are built, `sslens serve` runs on loopback with a
// small simulated dataset, and headless Chromium (Debian's chromium
// package) signs in, browses, previews, launches a tiny run and watches it
// train, then uploads and scores cutouts as an astronomer.
//
// Without a browser the test skips, unless E2E_REQUIRED=1 (CI) makes that
// a failure; `go test -short` skips it too. Screenshots go to
// $SSLENS_E2E_OUT when set, else to the test's temporary folder.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// e2eTimeout bounds the whole end-to-end test.
const e2eTimeout = 6 * time.Minute

// portal is a running `sslens serve` and what the tests need of it.
type portal struct {
	url           string // http://127.0.0.1:PORT
	adminPassword string
	data          string // the data folder
	bin           string
	shots         string // screenshot folder
}

const (
	astronomer         = "vera"
	astronomerPassword = "correct-horse-battery"
)

func TestPortalEndToEnd(t *testing.T) {
	browser := findBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	p := startPortal(ctx, t)

	admin := newBrowser(ctx, t, browser, 1280, 800)
	t.Run("admin signs in", func(t *testing.T) { adminSignsIn(t, admin, p) })
	t.Run("admin browses the dataset", func(t *testing.T) { browseDataset(t, admin, p) })
	t.Run("admin previews augmentations", func(t *testing.T) { previewAugmentations(t, admin, p) })
	t.Run("admin cancels the baseline", func(t *testing.T) { cancelBaseline(t, admin, p) })
	t.Run("admin launches a tiny run", func(t *testing.T) { launchTinyRun(t, admin, p) })
	t.Run("admin scores a survey", func(t *testing.T) { scoreSurvey(t, admin, p) })
	t.Run("admin compares results", func(t *testing.T) { compareResults(t, admin, p) })
	admin.noConsoleErrors(t)

	astro := newBrowser(ctx, t, browser, 1280, 800)
	t.Run("astronomer cannot launch", func(t *testing.T) { astronomerCannotLaunch(t, astro, p) })
	t.Run("astronomer scores uploads", func(t *testing.T) { astronomerScores(t, astro, p) })
	t.Run("two users grade by keyboard", func(t *testing.T) { gradeByKeyboard(t, astro, admin, p) })
	t.Run("astronomer uploads with positions", func(t *testing.T) { uploadWithPositions(t, astro, p) })
	t.Run("admin promotes a model", func(t *testing.T) { promoteModel(t, admin, p) })
	t.Run("admin retrains from survey data and grades", func(t *testing.T) { retrainFromRealData(t, admin, p) })
	t.Run("narrow window", func(t *testing.T) { narrowWindow(t, astro, p) })
	astro.noConsoleErrors(t, "/api/runs") // the refused launch, on purpose
}

// findBrowser returns Chromium's path, or skips (fails with E2E_REQUIRED=1).
func findBrowser(t *testing.T) string {
	t.Helper()
	if testing.Short() && os.Getenv("E2E_REQUIRED") != "1" {
		t.Skip("end-to-end browser test skipped in -short mode")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("E2E_REQUIRED") == "1" {
		t.Fatal("E2E_REQUIRED=1 but no chromium is installed (apt-get install chromium)")
	}
	t.Skip("no chromium installed; set E2E_REQUIRED=1 to make this a failure")
	return ""
}

// moduleRoot is the repository root (the folder of go.mod).
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("finding the module root: %v", err)
	}
	return filepath.Dir(string(bytes.TrimSpace(out)))
}

// startPortal builds sslens and the WebAssembly app, starts `sslens serve`
// on a free loopback port with a fresh data folder (first start: a small
// simulated dataset), and adds the astronomer account.
func startPortal(ctx context.Context, t *testing.T) *portal {
	t.Helper()
	root := moduleRoot(t)
	dir := t.TempDir()
	p := &portal{data: filepath.Join(dir, "data"), bin: filepath.Join(dir, "sslens"), shots: os.Getenv("SSLENS_E2E_OUT")}
	if p.shots == "" {
		p.shots = filepath.Join(dir, "screenshots")
	}
	if err := os.MkdirAll(p.shots, 0o755); err != nil {
		t.Fatal(err)
	}

	// The server serves web/ from its working folder: the built wasm plus
	// the repository's assets.
	web := filepath.Join(dir, "web")
	if err := os.MkdirAll(web, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sslens.css", "icon.svg", "icon-192.png", "icon-512.png"} {
		b, err := os.ReadFile(filepath.Join(root, "web", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(web, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	build := func(i int, env []string, args ...string) {
		defer wg.Done()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	wg.Add(2)
	go build(0, nil, "build", "-o", p.bin, "./backend/cmd/sslens")
	go build(1, []string{"GOOS=js", "GOARCH=wasm"}, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(web, "app.wasm"), "./app/cmd/wasm")
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("built sslens and app.wasm in %s", time.Since(start).Round(time.Millisecond))

	cmd := exec.Command(p.bin, "serve", "--addr", "127.0.0.1:0", "--data", p.data, "--counts", "small", "--slots", "2", "--grace", "3s")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", stderr.String())
		}
	})

	lines := bufio.NewScanner(stdout)
	serving := regexp.MustCompile(`serving (http://\S+)`)
	for p.url == "" && lines.Scan() {
		line := lines.Text()
		if pw, ok := strings.CutPrefix(strings.TrimSpace(line), "password:"); ok {
			p.adminPassword = strings.TrimSpace(pw)
		}
		if m := serving.FindStringSubmatch(line); m != nil {
			p.url = m[1]
		}
	}
	if p.url == "" || p.adminPassword == "" {
		t.Fatalf("server did not start (url %q, admin password seen: %v):\n%s", p.url, p.adminPassword != "", stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	add := exec.Command(p.bin, "user", "add", "--password-stdin", "--data", p.data, astronomer)
	add.Stdin = strings.NewReader(astronomerPassword + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("adding the astronomer: %v\n%s", err, out)
	}
	return p
}

// syncBuffer is a bytes.Buffer safe for the server's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tab is one browser (its own profile) and the console errors it logged.
type tab struct {
	ctx context.Context

	mu     sync.Mutex
	errors []chromedp.ConsoleMessage
}

// newBrowser starts headless Chromium with a fresh profile and a window
// of w x h pixels, and records its console errors.
func newBrowser(ctx context.Context, t *testing.T, path string, w, h int) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(int64(w), int64(h))); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	b := &tab{ctx: bctx}
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, m)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// noConsoleErrors fails for every console error or exception, except
// failed requests to a URL containing one of allowed.
func (b *tab) noConsoleErrors(t *testing.T, allowed ...string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.errors {
		ok := false
		for _, a := range allowed {
			ok = ok || m.Source == "network" && strings.Contains(m.URL, a)
		}
		if !ok {
			t.Errorf("console %s: %s (%s)", m.Type, m.Text, m.URL)
		}
	}
}

// do runs actions with a deadline, failing the test with what was doing.
func (b *tab) do(t *testing.T, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) in the page.
func eval[T any](t *testing.T, b *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript condition until it is true.
func (b *tab) waitJS(t *testing.T, what, cond string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		html, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").outerHTML.slice(0, 3000) : document.body.outerHTML.slice(0, 3000)`))
		t.Fatalf("waiting for %s (%s): %v\npage: %s", what, cond, err, html)
	}
}

// page waits until the app has mounted page name and it is ready (the
// prerendered HTML has the same elements, so the wait is on the marks the
// WebAssembly build adds).
func (b *tab) page(t *testing.T, name string) {
	t.Helper()
	b.waitJS(t, "page "+name, fmt.Sprintf(`!!document.querySelector('main[data-page=%q][data-mounted][data-state="ready"]')`, name), 30*time.Second)
}

// shot saves a screenshot of the window as NAME.png.
func (b *tab) shot(t *testing.T, p *portal, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// choose sets a select element's value as a user would, firing change.
func (b *tab) choose(t *testing.T, sel, value string) {
	t.Helper()
	ok := eval[bool](t, b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false;
		e.value = %q; e.dispatchEvent(new Event("change", {bubbles: true})); return e.value === %q })()`, sel, value, value))
	if !ok {
		t.Fatalf("cannot choose %q in %s", value, sel)
	}
}

// click clicks the first element matching a CSS selector.
func (b *tab) click(t *testing.T, sel string) {
	t.Helper()
	b.do(t, "clicking "+sel, 15*time.Second, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// signIn fills the sign-in form with the keyboard only: type, Tab, type,
// Enter.
func (b *tab) signIn(t *testing.T, user, password string) {
	t.Helper()
	b.page(t, "login")
	b.do(t, "signing in", 15*time.Second,
		chromedp.Focus(chromedp.ID("username")),
		chromedp.KeyEvent(user),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(password),
		chromedp.KeyEvent("\r"),
	)
}

func adminSignsIn(t *testing.T, b *tab, p *portal) {
	// Time to interactive: from navigation to the mounted page, first with
	// an empty cache, then again with the service worker's copy.
	start := time.Now()
	b.do(t, "opening the portal", 30*time.Second, chromedp.Navigate(p.url+"/"))
	b.page(t, "login") // signed-out visitors land on the sign-in page
	cold := time.Since(start)
	start = time.Now()
	b.do(t, "reloading", 30*time.Second, chromedp.Reload())
	b.page(t, "login")
	t.Logf("time to interactive on loopback: %s first visit, %s reload", cold.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	b.shot(t, p, "01-login")
	b.signIn(t, "admin", p.adminPassword)
	b.page(t, "dashboard")
	// Marks this document: every later page must come without a reload.
	eval[bool](t, b, `window.sslensLoaded = true`)
	b.page(t, "dashboard")
	// The first start simulates the small dataset; the dashboard follows
	// the runs and shows it ready when its job ends.
	b.waitJS(t, "the dataset", `!!document.querySelector("#h-datasets").parentElement.querySelector(".badge.state-ready")`, 60*time.Second)
	if !eval[bool](t, b, `!!document.querySelector('nav a[href="/launch"]')`) {
		t.Error("an admin's navigation lacks Launch")
	}
	b.shot(t, p, "02-dashboard-admin")
}

func browseDataset(t *testing.T, b *tab, p *portal) {
	b.click(t, `nav a[href="/datasets"]`)
	b.page(t, "datasets")
	b.waitJS(t, "thumbnails drawn", `[...document.querySelectorAll("#thumbs img")].slice(0, 8).every(i => i.complete && i.naturalWidth > 0)`, 30*time.Second)
	b.shot(t, p, "03-datasets")

	// Filter to test-split lenses sorted by Einstein radius, largest first.
	// The grid names the address its images answer, so a wait can tell
	// fresh results from the previous ones.
	const fresh = `document.querySelector("#thumbs") && document.querySelector("#thumbs").dataset.query === location.pathname + location.search`
	b.choose(t, "#f-split", "test")
	b.waitJS(t, "the split filter", `location.search.includes("split=test") && `+fresh, 20*time.Second)
	b.choose(t, "#f-class", "lenses")
	b.waitJS(t, "the class filter", `location.search.includes("class=lenses") && `+fresh, 20*time.Second)
	b.choose(t, "#f-sort", "theta_e")
	b.waitJS(t, "the sort key", `location.search.includes("sort=theta_e") && `+fresh, 20*time.Second)
	b.choose(t, "#f-order", "desc")
	b.waitJS(t, "the sort order", `location.search.includes("order=desc") && `+fresh, 20*time.Second)
	splits := eval[[]string](t, b, `[...document.querySelectorAll("#thumbs li")].map(li => li.querySelector(".badge.lenses") ? li.querySelectorAll(".badge")[1].textContent : "non-lens")`)
	for _, s := range splits {
		if s != "test" {
			t.Errorf("filtered to test-split lenses, but the grid shows a %s image", s)
		}
	}
	values := eval[[]string](t, b, `[...document.querySelectorAll("#thumbs .thumb-caption .small")].map(e => e.textContent.split("= ")[1])`)
	for i := 1; i < len(values); i++ {
		a, _ := strconv.ParseFloat(values[i-1], 64)
		c, _ := strconv.ParseFloat(values[i], 64)
		if c > a {
			t.Errorf("sorted by theta_e descending, but %v comes before %v", a, c)
		}
	}
	b.shot(t, p, "04-datasets-filtered")

	b.click(t, "#thumbs a.thumb")
	b.page(t, "image")
	b.waitJS(t, "the three bands", `["#band-rgb", "#band-g", "#band-r", "#band-i"].every(s => { const i = document.querySelector(s + " img"); return i && i.complete && i.naturalWidth > 0 })`, 30*time.Second)
	b.waitJS(t, "the lens parameters", `[...document.querySelectorAll("table.kv th")].some(th => th.textContent === "theta_e")`, 10*time.Second)
	b.choose(t, "#stretch", "log")
	b.waitJS(t, "the log stretch", `document.querySelector("#band-g img").src.includes("stretch=log") && document.querySelector("#band-g img").complete`, 20*time.Second)
	b.shot(t, p, "05-image-detail")
}

func previewAugmentations(t *testing.T, b *tab, p *portal) {
	b.click(t, `a[href^="/preview?"]`)
	b.page(t, "preview")
	b.waitJS(t, "the views", `document.querySelectorAll("#views figure.global img").length >= 2`, 60*time.Second)
	seed := eval[string](t, b, `document.querySelector("#views").dataset.seed`)
	if n := eval[int](t, b, `document.querySelectorAll("#views figure.mask").length`); n == 0 {
		t.Error("the iBOT preview shows no masks")
	}
	b.shot(t, p, "06-preview")
	b.click(t, "#reroll")
	b.waitJS(t, "new views", fmt.Sprintf(`document.querySelector("#views") && document.querySelector("#views").dataset.seed !== %q`, seed), 60*time.Second)
	if n := eval[int](t, b, `document.querySelectorAll("#views figure.local img").length`); n == 0 {
		t.Error("the preview shows no local crops")
	}
}

func cancelBaseline(t *testing.T, b *tab, p *portal) {
	b.click(t, `nav a[href="/runs"]`)
	b.page(t, "runs")
	b.waitJS(t, "the baseline run", `[...document.querySelectorAll("#runs-table a")].some(a => a.textContent.startsWith("baseline"))`, 20*time.Second)
	b.shot(t, p, "07-runs")
	eval[bool](t, b, `(() => { [...document.querySelectorAll("#runs-table a")].find(a => a.textContent.startsWith("baseline")).click(); return true })()`)
	b.page(t, "run")
	// The baseline waits for the dataset, then trains for minutes: stop it
	// to keep the CPUs for the tiny run.
	b.waitJS(t, "the cancel button or the end", `!!document.querySelector("#cancel-run") || ["succeeded", "failed"].includes(document.querySelector("#run-state").dataset.state)`, 20*time.Second)
	if eval[bool](t, b, `!!document.querySelector("#cancel-run")`) {
		b.click(t, "#cancel-run")
		b.waitJS(t, "the cancelled state", `["cancelled", "interrupted"].includes(document.querySelector("#run-state").dataset.state)`, 30*time.Second)
	}
}

func launchTinyRun(t *testing.T, b *tab, p *portal) {
	b.click(t, `nav a[href="/launch"]`)
	b.page(t, "launch")
	b.waitJS(t, "the validated template", `document.querySelector("#validity").textContent === "config valid"`, 20*time.Second)
	b.waitJS(t, "the planned memory", `/^Estimated peak memory \d+ MiB/.test(document.querySelector("#l-memory")?.textContent ?? "")`, 20*time.Second)

	// A bad value is flagged beside its field before submitting.
	b.do(t, "typing 0 epochs", 10*time.Second, chromedp.SetValue(chromedp.ID("l-epochs"), "0"))
	eval[bool](t, b, `document.querySelector("#l-epochs").dispatchEvent(new Event("change", {bubbles: true}))`)
	b.waitJS(t, "the field error", `!!document.querySelector('[data-key="train args.num_epochs"] .field-error')`, 20*time.Second)
	b.shot(t, p, "08-launch-invalid")

	b.do(t, "typing 3 epochs", 10*time.Second, chromedp.SetValue(chromedp.ID("l-epochs"), "3"))
	eval[bool](t, b, `document.querySelector("#l-epochs").dispatchEvent(new Event("change", {bubbles: true}))`)
	b.waitJS(t, "a valid config", `document.querySelector("#validity").textContent === "config valid" && document.querySelector("#l-yaml").value.includes("num_epochs: 3")`, 20*time.Second)
	b.do(t, "naming the run", 10*time.Second, chromedp.SendKeys(chromedp.ID("l-name"), "e2e tiny"))
	b.click(t, "#launch")

	b.page(t, "run")
	// The loss chart receives points live, and keeps receiving them.
	b.waitJS(t, "the first loss points", `+document.querySelector("#charts svg").dataset.points > 0`, 90*time.Second)
	first := eval[int](t, b, `+document.querySelector("#charts svg").dataset.points`)
	b.waitJS(t, "more loss points", fmt.Sprintf(`+document.querySelector("#charts svg").dataset.points > %d || document.querySelector("#run-state").dataset.state === "succeeded"`, first), 90*time.Second)
	b.waitJS(t, "the run to succeed", `["succeeded", "failed", "cancelled"].includes(document.querySelector("#run-state").dataset.state)`, 180*time.Second)
	if st := eval[string](t, b, `document.querySelector("#run-state").dataset.state`); st != "succeeded" {
		t.Fatalf("the tiny run ended %s: %s", st, eval[string](t, b, `document.querySelector("main").textContent`))
	}
	b.waitJS(t, "the final evaluation", `!!document.querySelector("#final-eval")`, 20*time.Second)
	if n := eval[int](t, b, `+document.querySelector("#charts svg").dataset.points`); n <= first {
		t.Errorf("the loss chart got no points after the first %d", first)
	}
	b.shot(t, p, "09-run")
}

// scoreSurvey scores the dataset's lens folder as a survey on the server
// with the default model (the tiny run's): the run page shows the files
// counted, then the top of the ranking and the catalogue's files.
func scoreSurvey(t *testing.T, b *tab, p *portal) {
	lenses, err := filepath.Glob(filepath.Join(p.data, "datasets", "*", "lenses"))
	if err != nil || len(lenses) == 0 {
		t.Fatalf("no lens folder under %s/datasets: %v", p.data, err)
	}
	rel, err := filepath.Rel(p.data, lenses[0])
	if err != nil {
		t.Fatal(err)
	}
	b.click(t, `nav a[href="/launch"]`)
	b.page(t, "launch")
	b.waitJS(t, "the survey form with a classifier", `document.querySelector("#s-checkpoint")?.value > 0`, 20*time.Second)
	b.do(t, "naming the folders", 10*time.Second, chromedp.SendKeys(chromedp.ID("s-paths"), rel))
	b.click(t, "#score-survey")
	b.page(t, "run")
	b.waitJS(t, "the survey to succeed", `["succeeded", "failed", "cancelled"].includes(document.querySelector("#run-state").dataset.state)`, 120*time.Second)
	if st := eval[string](t, b, `document.querySelector("#run-state").dataset.state`); st != "succeeded" {
		t.Fatalf("the survey ended %s: %s", st, eval[string](t, b, `document.querySelector("main").textContent`))
	}
	b.waitJS(t, "the ranking", `document.querySelectorAll("#catalogue-top tbody tr").length > 0`, 20*time.Second)
	if !eval[bool](t, b, `/ files · \d+ files\/s/.test(document.querySelector(".progress-text")?.textContent ?? "")`) {
		t.Errorf("the progress reads %q, want files and files/s", eval[string](t, b, `document.querySelector(".progress-text")?.textContent ?? ""`))
	}
	for _, name := range []string{"ranked.csv", "ranked.fits", "ranked.vot", "scores.csv"} {
		if !eval[bool](t, b, fmt.Sprintf(`!!document.querySelector('#catalogue a[download="%s"]')`, name)) {
			t.Errorf("the catalogue offers no %s", name)
		}
	}
	if first := eval[string](t, b, `document.querySelector("#catalogue-top tbody td:nth-child(2)").textContent`); !strings.HasPrefix(first, rel+"/") {
		t.Errorf("the first ranked file reads %q, want it under %s", first, rel)
	}
	b.shot(t, p, "09-survey")
}

func compareResults(t *testing.T, b *tab, p *portal) {
	b.click(t, `nav a[href="/results"]`)
	b.page(t, "results")
	b.waitJS(t, "our row and the reference", `document.querySelectorAll("#results-table tbody tr").length > 0 && document.querySelectorAll("#reference-table tbody tr").length === 32 && !!document.querySelector("#ref-caveat")`, 20*time.Second)
	if !eval[bool](t, b, `[...document.querySelectorAll("#results-table td")].some(td => /\d\.\d%\s*\d+\.\d–\d+\.\d/.test(td.textContent))`) {
		t.Error("the results table shows no accuracy with its 95% interval")
	}
	if n := eval[int](t, b, `+document.querySelector("#h-roc").parentElement.querySelector("svg").dataset.points`); n < 2 {
		t.Errorf("the ROC chart has %d points", n)
	}
	b.shot(t, p, "10-results")
	b.choose(t, "#f-backbone", "vit_small")
	b.waitJS(t, "the backbone filter", `location.search.includes("backbone=vit_small") && document.querySelectorAll("#reference-table tbody tr").length === 16`, 20*time.Second)
	b.shot(t, p, "10-results-vit-small")
	if !eval[bool](t, b, `window.sslensLoaded === true`) {
		t.Error("a page change reloaded the document")
	}
}

func astronomerCannotLaunch(t *testing.T, b *tab, p *portal) {
	b.do(t, "opening the portal", 30*time.Second, chromedp.Navigate(p.url+"/launch"))
	b.signIn(t, astronomer, astronomerPassword)
	// Signing in returns to the page asked for, which refuses.
	b.waitJS(t, "the refusal", `!!document.querySelector('main[data-page="launch"][data-state="forbidden"]')`, 30*time.Second)
	if eval[bool](t, b, `!!document.querySelector('nav a[href="/launch"]') || !!document.querySelector("#launch-form")`) {
		t.Error("an astronomer sees the launch form or its link")
	}
	b.shot(t, p, "11-launch-forbidden")
	status := eval[int](t, b, `fetch("/api/me").then(r => r.json()).then(s => fetch("/api/runs", {method: "POST",
		headers: {"Content-Type": "application/json", "X-CSRF-Token": s.csrf_token},
		body: JSON.stringify({kind: "finetune", template: "supervised-vit-nano"})})).then(r => r.status)`)
	if status != 403 {
		t.Errorf("an astronomer's POST /api/runs answered %d, want 403", status)
	}
}

func astronomerScores(t *testing.T, b *tab, p *portal) {
	dir := t.TempDir()
	var files []string
	for i, name := range []string{"J0001+0001.fits", "J0002+0002.fits", "J0003+0003.fits"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, fitsCube(32, float64(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	broken := filepath.Join(dir, "broken.fits")
	if err := os.WriteFile(broken, []byte("SIMPLE  = this is not a FITS file"), 0o644); err != nil {
		t.Fatal(err)
	}
	files = append(files, broken)

	b.click(t, `nav a[href="/score"]`)
	b.page(t, "score")
	b.waitJS(t, "a model", `!!document.querySelector("#s-model")`, 10*time.Second)
	b.do(t, "choosing files", 10*time.Second, chromedp.SetUploadFiles(chromedp.ID("files"), files))
	b.waitJS(t, "the upload's outcome", `!!document.querySelector("#upload-outcome")`, 90*time.Second)
	good := eval[int](t, b, `document.querySelectorAll("#upload-outcome .file.good").length`)
	bad := eval[[]string](t, b, `[...document.querySelectorAll("#upload-outcome .file.bad")].map(e => e.dataset.name + ": " + e.querySelector(".file-error").textContent)`)
	if good != 3 || len(bad) != 1 || !strings.HasPrefix(bad[0], "broken.fits: ") || len(bad[0]) < len("broken.fits: ")+10 {
		t.Fatalf("outcome: %d good, bad %q; want 3 good and broken.fits with a reason", good, bad)
	}
	scores := eval[[]string](t, b, `[...document.querySelectorAll("#upload-outcome .file.good .muted")].map(e => e.textContent)`)
	for _, s := range scores {
		if !strings.HasPrefix(s, "P(lens) ") {
			t.Errorf("a good file shows %q, want its score", s)
		}
	}
	b.waitJS(t, "the ranked table", `document.querySelectorAll("#scores tbody tr").length === 3 && [...document.querySelectorAll("#scores .prob-value")].length === 3`, 20*time.Second)
	probs := eval[[]string](t, b, `[...document.querySelectorAll("#scores .prob-value")].map(e => e.textContent)`)
	for i := 1; i < len(probs); i++ {
		a, _ := strconv.ParseFloat(probs[i-1], 64)
		c, _ := strconv.ParseFloat(probs[i], 64)
		if c > a {
			t.Errorf("scores not sorted by lens probability: %v", probs)
		}
	}
	b.shot(t, p, "12-score")

	b.click(t, "#scores tbody tr a")
	b.waitJS(t, "the detail", `!!document.querySelector("#upload-detail table.data") && (!!document.querySelector("#neighbours") || document.querySelector("#upload-detail").textContent.includes("training image"))`, 60*time.Second)
	b.shot(t, p, "13-score-detail")

	csv := eval[string](t, b, `fetch(document.querySelector("#export-csv").href).then(r => r.text())`)
	var rows, comments []string
	for _, line := range strings.Split(strings.TrimSpace(csv), "\n") {
		if strings.HasPrefix(line, "#") {
			comments = append(comments, line)
		} else {
			rows = append(rows, line)
		}
	}
	if len(rows) != 4 || len(comments) != 2 || !strings.HasPrefix(comments[0], "# sslens lens probabilities; model: checkpoint ") ||
		!strings.HasPrefix(comments[1], "# grading: 0 of 3 candidates graded") || !strings.Contains(csv, "J0001+0001.fits") || strings.Contains(csv, "broken.fits") {
		t.Errorf("CSV export: %d comment lines and %d rows, want the model's and the grading's lines, a header and 3 rows:\n%s", len(comments), len(rows), csv)
	}
	if !eval[bool](t, b, `document.querySelector("#export-csv").hasAttribute("download") && document.querySelector("#export-votable").hasAttribute("download")`) {
		t.Error("the export links do not download")
	}

	reRankAndOpen(t, b, dir)

	// Drag and drop: a (3, 32, 32) float32 .npy made in the page, dropped
	// on the zone as a file manager would.
	eval[bool](t, b, dropNPY)
	b.waitJS(t, "the dropped file", `[...document.querySelectorAll("#upload-outcome .file.good")].some(e => e.dataset.name === "dropped.npy") && document.querySelectorAll("#scores tbody tr").length === 5`, 60*time.Second)
}

// reRankAndOpen uploads a near copy of the top-ranked cutout, which ranks
// next to it and pushes the rows below down, then clicks rows (and a
// file-name link) and checks that each opens its own candidate: re-used
// rows once kept the handler of the upload they first showed.
func reRankAndOpen(t *testing.T, b *tab, dir string) {
	rowIDs := `[...document.querySelectorAll("#scores tbody tr")].map(r => r.dataset.upload)`
	before := eval[[]string](t, b, rowIDs)
	top := eval[string](t, b, `document.querySelector("#scores tbody tr a").textContent`)
	var n int // the top file is J000n+000n.fits, made as fitsCube(32, n-1)
	if _, err := fmt.Sscanf(top, "J000%d+", &n); err != nil {
		t.Fatalf("top row %q: %v", top, err)
	}
	near := filepath.Join(dir, "J0009+0009.fits")
	if err := os.WriteFile(near, fitsCube(32, float64(n-1)+1e-4), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do(t, "uploading a near copy of the top candidate", 10*time.Second, chromedp.SetUploadFiles(chromedp.ID("files"), []string{near}))
	b.waitJS(t, "the re-ranked table", `document.querySelectorAll("#scores tbody tr").length === 4 && [...document.querySelectorAll("#scores .prob-value")].length === 4`, 60*time.Second)
	after := eval[[]string](t, b, rowIDs)
	moved := false
	for i, id := range before {
		moved = moved || after[i] != id
	}
	if !moved {
		t.Fatalf("the new upload did not move any row: %v, then %v", before, after)
	}
	for _, k := range []int{3, 0, 2, 1} {
		row := fmt.Sprintf("#scores tbody tr:nth-child(%d)", k+1)
		id := eval[string](t, b, `document.querySelector("`+row+`").dataset.upload`)
		name := eval[string](t, b, `document.querySelector("`+row+` a").textContent`)
		target := row + " td:nth-child(3)" // the row itself, off the link
		if k%2 == 1 {
			target = row + " a"
		}
		b.click(t, target)
		b.waitJS(t, fmt.Sprintf("row %d's candidate (%s)", k+1, name),
			fmt.Sprintf(`new URLSearchParams(location.search).get("upload") === %q && ((document.querySelector("#upload-detail h2") || {}).textContent || "").includes(%q)`, id, name), 30*time.Second)
	}
}

// gradeByKeyboard has the astronomer grade three candidates with the
// keyboard alone (3, n, b, n, x), then the admin grade the first one blind
// (the astronomer's grade hidden until then) and see the consensus.
func gradeByKeyboard(t *testing.T, astro, admin *tab, p *portal) {
	top := eval[string](t, astro, `document.querySelector("#scores tbody tr").dataset.upload`)
	astro.do(t, "opening the top candidate", 30*time.Second, chromedp.Navigate(p.url+"/score?upload="+top))
	astro.page(t, "score")
	astro.waitJS(t, "the grading block", `!!document.querySelector("#grade-A")`, 30*time.Second)
	for i, key := range []string{"3", "b", "x"} {
		if i > 0 {
			before := eval[string](t, astro, `location.search`)
			astro.do(t, "pressing n", 10*time.Second, chromedp.KeyEvent("n"))
			astro.waitJS(t, "the next candidate", fmt.Sprintf(`location.search !== %q && !!document.querySelector("#grade-A")`, before), 30*time.Second)
		}
		astro.do(t, "grading with "+key, 10*time.Second, chromedp.KeyEvent(key))
		want := map[string]string{"3": "A", "b": "B", "x": "0"}[key]
		astro.waitJS(t, "grade "+want+" recorded", fmt.Sprintf(`!!document.querySelector('#grade-%s.primary') && !!document.querySelector("#grades-consensus")`, want), 30*time.Second)
	}
	// The table reloads after the grade is shown, so wait for its third grade.
	astro.waitJS(t, "3 candidates showing a grade in the table", `[...document.querySelectorAll("#scores .grade-cell")].filter(td => td.textContent !== "").length === 3`, 30*time.Second)
	astro.shot(t, p, "17-graded")

	admin.do(t, "opening the score page", 30*time.Second, chromedp.Navigate(p.url+"/score"))
	admin.page(t, "score")
	admin.choose(t, "#s-whose", "everyone")
	admin.waitJS(t, "everyone's uploads", fmt.Sprintf(`!!document.querySelector('#scores tr[data-upload="%s"]')`, top), 30*time.Second)
	admin.click(t, fmt.Sprintf(`#scores tr[data-upload="%s"] td:nth-child(3)`, top))
	admin.waitJS(t, "the hidden grades", `!!document.querySelector("#grades-hidden")`, 30*time.Second)
	admin.do(t, "grading with 2", 10*time.Second, chromedp.KeyEvent("2"))
	admin.waitJS(t, "the consensus", `((document.querySelector("#grades-consensus") || {}).textContent || "").includes("over 2 graders")`, 30*time.Second)
	if text := eval[string](t, admin, `document.querySelector("#grades-consensus").textContent`); !strings.Contains(text, "Consensus A: mean 2.50") ||
		!strings.Contains(text, astronomer+": A") {
		t.Errorf("the admin's consensus: %q", text)
	}
	admin.shot(t, p, "18-consensus")
}

// uploadWithPositions uploads a FITS cutout with a WCS (written by astropy)
// and an npy with a catalogue CSV, sees both positions in the table and
// the detail, and exports them with the grades given before.
func uploadWithPositions(t *testing.T, b *tab, p *portal) {
	dir := t.TempDir()
	paths := tempFiles(t, dir, map[string][]byte{"wcs.fits": surveyFixture(t, "legacy-rig.fits"), "cand.npy": npyCutout(32),
		"cands.csv": []byte("name,ra,dec\ncand.npy,10:00:27.91,+02:12:20.9\n")})
	b.do(t, "opening the score page", 30*time.Second, chromedp.Navigate(p.url+"/score"))
	b.page(t, "score")
	b.do(t, "choosing files with a catalogue", 10*time.Second, chromedp.SetUploadFiles(chromedp.ID("files"), paths))
	b.waitJS(t, "the positions in the table", `[...document.querySelectorAll("#scores tbody tr")].some(r => r.textContent.includes("wcs.fits") && r.textContent.includes("13:22:00")) &&
		[...document.querySelectorAll("#scores tbody tr")].some(r => r.textContent.includes("cand.npy") && r.textContent.includes("10:00:27.91 +02:12:20.9"))`, 60*time.Second)
	if note := eval[string](t, b, `[...document.querySelectorAll("#upload-outcome .file")].map(e => e.textContent).join(" / ")`); !strings.Contains(note, "catalogue of 1 positions") {
		t.Errorf("the outcome does not report the catalogue: %q", note)
	}
	id := eval[string](t, b, `[...document.querySelectorAll("#scores tbody tr")].find(r => r.textContent.includes("cand.npy")).dataset.upload`)
	b.do(t, "opening the npy", 30*time.Second, chromedp.Navigate(p.url+"/score?upload="+id))
	b.waitJS(t, "its sky block", `((document.querySelector("#upload-sky") || {}).textContent || "").includes("catalogue cands.csv")`, 30*time.Second)
	if !eval[bool](t, b, `[...document.querySelectorAll("#upload-sky a")].some(a => a.href.startsWith("https://www.legacysurvey.org/viewer?ra=150.11"))`) {
		t.Error("no Legacy Surveys link at the npy's position")
	}
	b.shot(t, p, "19-positions")

	// The FITS file's WCS gives a scale bar and a compass over its large
	// view (Legacy Surveys pixels are 0.262"); blinking shows g, r, i in turn.
	id = eval[string](t, b, `[...document.querySelectorAll("#scores tbody tr")].find(r => r.textContent.includes("wcs.fits")).dataset.upload`)
	b.do(t, "opening the FITS file", 30*time.Second, chromedp.Navigate(p.url+"/score?upload="+id))
	b.waitJS(t, "its scale bar and compass", `!!document.querySelector("[data-role=sky-overlay] [data-role=scale-bar]") &&
		document.querySelectorAll("[data-role=sky-overlay] [data-role=compass]").length == 2`, 30*time.Second)
	if arcsec := eval[string](t, b, `document.querySelector("[data-role=sky-overlay] [data-role=scale-bar]").dataset.arcsec`); arcsec == "" {
		t.Error("the scale bar has no length")
	}
	b.click(t, "#view-blink")
	b.waitJS(t, "the g band", `document.querySelector("#candidate-image").src.includes("band=g")`, 10*time.Second)
	b.waitJS(t, "then the r band", `document.querySelector("#candidate-image").src.includes("band=r")`, 10*time.Second)
	b.shot(t, p, "22-compass")
	b.click(t, "#view-rgb")
	b.click(t, "#candidate-image")
	b.waitJS(t, "the full-window view, overlay included", `(() => { const r = document.querySelector("[data-role=sky-overlay]").getBoundingClientRect();
		return document.querySelector(".large-frame").classList.contains("zoomed") && r.width == window.innerWidth && r.height == window.innerHeight })()`, 10*time.Second)
	b.click(t, "#candidate-image")

	csv := eval[string](t, b, `fetch(document.querySelector("#export-csv").href).then(r => r.text())`)
	if !strings.Contains(csv, ",ra,dec,position,") || !strings.Contains(csv, "10:00:27.91 +02:12:20.9") || !strings.Contains(csv, astronomer+":A") {
		t.Errorf("the export lacks positions or grades:\n%s", csv)
	}

	// A g, r, z cube uploaded with "read a z band as i" is kept and scored,
	// marked in the table and on the candidate.
	b.click(t, "#z-as-i")
	b.do(t, "uploading a g, r, z cube", 10*time.Second, chromedp.SetUploadFiles(chromedp.ID("files"),
		tempFiles(t, dir, map[string][]byte{"grz.fits": surveyFixture(t, "legacy-grz.fits")})))
	b.waitJS(t, "its marked row", `[...document.querySelectorAll("#scores tbody tr")].some(r => r.textContent.includes("grz-z_as_i.npy") && !!r.querySelector(".badge.band-warning"))`, 60*time.Second)
	id = eval[string](t, b, `[...document.querySelectorAll("#scores tbody tr")].find(r => r.textContent.includes("grz-z_as_i.npy")).dataset.upload`)
	b.do(t, "opening it", 30*time.Second, chromedp.Navigate(p.url+"/score?upload="+id))
	b.waitJS(t, "its warning", `((document.querySelector("#band-warning") || {}).textContent || "").includes("z as i")`, 30*time.Second)

	// An HSC object's three cutout-service files are combined; its MASK
	// and VARIANCE are kept for display as the mask and sigma layers.
	hsc := map[string][]byte{}
	for _, band := range []string{"g", "r", "i"} {
		hsc["hsc-"+band+".fits"] = surveyFixture(t, "hsc-"+band+".fits")
	}
	b.do(t, "opening the score page", 30*time.Second, chromedp.Navigate(p.url+"/score"))
	b.page(t, "score")
	b.do(t, "uploading an HSC object's bands", 10*time.Second, chromedp.SetUploadFiles(chromedp.ID("files"), tempFiles(t, dir, hsc)))
	b.waitJS(t, "the combined cutout", `[...document.querySelectorAll("#scores tbody tr")].some(r => r.textContent.includes("SuGOHI-test-gri.npy"))`, 60*time.Second)
	id = eval[string](t, b, `[...document.querySelectorAll("#scores tbody tr")].find(r => r.textContent.includes("SuGOHI-test-gri.npy")).dataset.upload`)
	b.do(t, "opening it", 30*time.Second, chromedp.Navigate(p.url+"/score?upload="+id))
	b.waitJS(t, "its layer buttons", `!!document.querySelector("#layer-mask") && !!document.querySelector("#layer-sigma")`, 30*time.Second)
	b.click(t, "#layer-mask")
	b.waitJS(t, "the mask drawn", `document.querySelector("#candidate-image").src.includes("layer=mask") && document.querySelector("#candidate-image").complete &&
		document.querySelector("#candidate-image").naturalWidth > 0`, 30*time.Second)
	b.shot(t, p, "24-mask")
}

// promoteModel has the admin make the tiny run's last weights the default
// model, which re-scores every upload in a run of its own.
func promoteModel(t *testing.T, b *tab, p *portal) {
	b.do(t, "opening the score page", 30*time.Second, chromedp.Navigate(p.url+"/score"))
	b.page(t, "score")
	other := eval[string](t, b, `document.querySelector("#s-model option:not([value='0'])").value`)
	b.choose(t, "#s-model", other)
	b.click(t, "#promote-model")
	b.waitJS(t, "the re-score run", `[...document.querySelectorAll(".alert.notice")].some(e => e.textContent.includes("re-scored with it: run"))`, 30*time.Second)
	b.waitJS(t, "the new default", `document.querySelector("#s-model option[value='0']").textContent.includes("· last epoch") && document.querySelector("#model-promoted").textContent.includes("admin")`, 30*time.Second)
	b.shot(t, p, "20-promoted")
}

// retrainFromRealData is the real-data workflow: an unlabelled FITS tree on
// the server and a labelled archive sent from the browser are imported, a
// few pretraining steps run on the survey (its kNN monitor from the
// simulated dataset), the grades given before become a training set, a
// fine-tune on simulated plus graded data starts from the survey
// pretraining, re-scores the candidates, and the Score page shows the
// rounds.
func retrainFromRealData(t *testing.T, b *tab, p *portal) {
	fixtures := filepath.Join(moduleRoot(t), "backend", "dataimport", "testdata")
	if err := os.MkdirAll(filepath.Join(p.data, "surveys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", filepath.Join(fixtures, "fits-tree"), filepath.Join(p.data, "surveys", "hsc-tree")).CombinedOutput(); err != nil {
		t.Fatalf("copying the FITS tree: %v: %s", err, out)
	}
	// importForm fills a form, then follows the run called "import
	// DATASET" until it ends (the run page shows the previous run until
	// the new one loads).
	importForm := func(dataset string, fill func()) {
		t.Helper()
		name := "import " + dataset
		b.do(t, "opening the launch page", 30*time.Second, chromedp.Navigate(p.url+"/launch"))
		b.page(t, "launch")
		b.waitJS(t, "the forms", `!!document.querySelector("#data-form") && !!document.querySelector("#graded-form")`, 20*time.Second)
		fill()
		b.page(t, "run")
		b.waitJS(t, name+" to finish", fmt.Sprintf(`document.querySelector("main h1")?.textContent.includes(%q) && ["succeeded", "failed", "cancelled"].includes(document.querySelector("#run-state").dataset.state)`, name), 120*time.Second)
		if st := eval[string](t, b, `document.querySelector("#run-state").dataset.state`); st != "succeeded" {
			t.Fatalf("%s ended %s: %s", name, st, eval[string](t, b, `document.querySelector("main").textContent`))
		}
	}
	importForm("hsc-survey", func() {
		b.do(t, "filling the import", 10*time.Second, chromedp.SendKeys(chromedp.ID("d-name"), "hsc-survey"), chromedp.SendKeys(chromedp.ID("d-source"), "surveys/hsc-tree"))
		b.click(t, "#import-data")
	})
	if !eval[bool](t, b, `/ files/.test(document.querySelector(".progress-text")?.textContent ?? "")`) {
		t.Errorf("the import's progress reads %q, want files", eval[string](t, b, `document.querySelector(".progress-text")?.textContent ?? ""`))
	}
	b.shot(t, p, "21-imported")
	importForm("survey-x", func() {
		b.do(t, "choosing the archive", 10*time.Second, chromedp.SendKeys(chromedp.ID("d-name"), "survey-x"),
			chromedp.SetUploadFiles(chromedp.ID("d-archive"), []string{filepath.Join(fixtures, "archive.zip")}))
		b.waitJS(t, "the archive chosen", `document.querySelector("#d-source").disabled`, 10*time.Second)
		b.click(t, "#import-data")
	})
	importForm("graded-1", func() {
		b.do(t, "filling the rule", 10*time.Second, chromedp.SendKeys(chromedp.ID("g-name"), "graded-1"), chromedp.SendKeys(chromedp.ID("g-minnon"), "1"))
		b.click(t, "#make-graded")
	})
	datasets := apiCall[[]struct {
		ID         int64  `json:"id"`
		Name       string `json:"name"`
		Kind       string `json:"kind"`
		Lenses     int    `json:"lenses"`
		NonLenses  int    `json:"non_lenses"`
		Unlabelled int    `json:"unlabelled"`
	}](t, b, "GET", "/api/datasets", nil)
	ids := map[string]int64{}
	for _, d := range datasets {
		ids[d.Name] = d.ID
		switch {
		case d.Name == "hsc-survey" && (d.Kind != "imported" || d.Unlabelled != 5):
			t.Errorf("the survey dataset %+v, want 5 unlabelled cutouts", d)
		case d.Name == "survey-x" && (d.Lenses != 2 || d.NonLenses != 1):
			t.Errorf("the archive dataset %+v, want 2 lenses and 1 non-lens", d)
		case d.Name == "graded-1" && (d.Kind != "graded" || d.Lenses != 2 || d.NonLenses != 1):
			t.Errorf("the graded dataset %+v, want the 2 A/B and the 1 graded 0", d)
		}
	}
	pretrain := runAndWait(t, b, map[string]any{"kind": "pretrain", "name": "e2e survey dino", "dataset": ids["hsc-survey"], "config": `experiment: {ssl_training: dino, expt_name: e2e-survey, log_freq: 1}
input: {image size: [32, 32]}
network: {backbone: vit_nano, head_hidden_dim: 32, head_bottleneck_dim: 16, head_output_dim: 64}
optimizer: {scheduler_warmup_epochs: 1, warmup_teacher_temp_epochs: 1}
ssl augmentation kwargs: {num_local_crops: 2, local_crop_size: 16}
train args: {batch_size: 2, num_epochs: 2, knn_neighbours: 5, knn_dataset: sim-hsc}
`})
	ckpt := lastCheckpoint(t, b, pretrain)
	finetune := runAndWait(t, b, map[string]any{"kind": "finetune", "name": "e2e retrained", "dataset": ids["sim-hsc"], "checkpoint": ckpt, "config": `experiment: {ssl_training: finetune, expt_name: e2e-retrained, log_freq: 1}
input: {image size: [32, 32]}
network: {backbone: vit_nano}
optimizer: {optimizer: Adam, init_lr: 0.0001, final_lr: 0.000001}
train args: {batch_size: 32, num_epochs: 1}
finetune: {labels: all, bootstrap: 20, datasets: [{path: graded-1, weight: 4}]}
`})
	notes := apiCall[[]struct {
		Message string `json:"message"`
	}](t, b, "GET", fmt.Sprintf("/api/runs/%d/metrics?kind=log", finetune), nil)
	took := false
	for _, n := range notes {
		took = took || strings.Contains(n.Message, "train images") && strings.Contains(n.Message, "graded-1, ") && strings.Contains(n.Message, "(weight 4)")
	}
	if !took {
		t.Errorf("the fine-tune's notes do not say it took the graded set: %+v", notes)
	}
	best := lastCheckpoint(t, b, finetune)
	rescore := apiCall[struct {
		ID int64 `json:"id"`
	}](t, b, "POST", "/api/uploads/score", map[string]any{"checkpoint": best})
	waitRunState(t, b, rescore.ID)
	b.do(t, "opening the score page", 30*time.Second, chromedp.Navigate(p.url+"/score"))
	b.page(t, "score")
	b.waitJS(t, "the rounds", `document.querySelectorAll("#rounds tbody tr").length >= 2`, 30*time.Second)
	if last := eval[string](t, b, `[...document.querySelectorAll("#rounds tbody tr")].at(-1).textContent`); !strings.Contains(last, "e2e retrained") {
		t.Errorf("the last round reads %q, want the retrained model", last)
	}
	b.shot(t, p, "22-rounds")
}

// apiCall calls the portal's API from the page as the signed-in user (the
// CSRF token from /api/me) and decodes the JSON answer, failing on a
// status of 300 or more.
func apiCall[T any](t *testing.T, b *tab, method, path string, body any) T {
	t.Helper()
	payload := "undefined"
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		payload = strconv.Quote(string(j))
	}
	res := eval[string](t, b, fmt.Sprintf(`(async () => {
		const me = await (await fetch("/api/me")).json();
		const r = await fetch(%q, {method: %q, headers: {"Content-Type": "application/json", %q: me.csrf_token}, body: %s});
		return r.status + " " + await r.text();
	})()`, path, method, "X-CSRF-Token", payload))
	status, text, _ := strings.Cut(res, " ")
	if code, _ := strconv.Atoi(status); code >= 300 {
		t.Fatalf("%s %s: %s", method, path, res)
	}
	var out T
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, text)
	}
	return out
}

// runAndWait launches a run through the API and waits for it to succeed,
// returning its id.
func runAndWait(t *testing.T, b *tab, req map[string]any) int64 {
	t.Helper()
	r := apiCall[struct {
		ID int64 `json:"id"`
	}](t, b, "POST", "/api/runs", req)
	waitRunState(t, b, r.ID)
	return r.ID
}

// waitRunState polls run id until it ends, failing unless it succeeded.
func waitRunState(t *testing.T, b *tab, id int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		r := apiCall[struct {
			State string `json:"state"`
			Error string `json:"error"`
		}](t, b, "GET", fmt.Sprintf("/api/runs/%d", id), nil)
		switch {
		case r.State == "succeeded":
			return
		case r.State == "failed" || r.State == "cancelled":
			t.Fatalf("run %d ended %s: %s", id, r.State, r.Error)
		case time.Now().After(deadline):
			t.Fatalf("run %d still %s after 3 minutes", id, r.State)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// lastCheckpoint is the id of a run's checkpoints/last (best when it has
// one).
func lastCheckpoint(t *testing.T, b *tab, run int64) int64 {
	t.Helper()
	cs := apiCall[[]struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}](t, b, "GET", fmt.Sprintf("/api/runs/%d/checkpoints", run), nil)
	var id int64
	for _, c := range cs {
		if c.Name == "best" || (id == 0 && c.Name == "last") {
			id = c.ID
		}
	}
	if id == 0 {
		t.Fatalf("run %d has no checkpoint: %+v", run, cs)
	}
	return id
}

// tempFiles writes files into dir and returns their paths, in name order.
func tempFiles(t *testing.T, dir string, files map[string][]byte) []string {
	t.Helper()
	var paths []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

// surveyFixture reads a survey cutout astropy wrote for the data package's
// tests (backend/data/testdata/surveys).
func surveyFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "backend/data/testdata/surveys", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// npyCutout returns a (3, n, n) float32 .npy of a Gaussian galaxy.
func npyCutout(n int) []byte {
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (3, %d, %d), }", n, n)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	var b bytes.Buffer
	b.Write([]byte{0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, byte(len(header)), byte(len(header) >> 8)})
	b.WriteString(header)
	for i := 0; i < 3*n*n; i++ {
		x, y := float64(i%n-n/2), float64(i/n%n-n/2)
		binary.Write(&b, binary.LittleEndian, float32(math.Exp(-(x*x+y*y)/10)))
	}
	return b.Bytes()
}

// dropNPY builds a .npy cutout in the page and drops it on #dropzone.
const dropNPY = `(() => {
	let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 32, 32), }";
	while ((10 + header.length + 1) % 64 !== 0) header += " ";
	header += "\n";
	const data = new Float32Array(3 * 32 * 32);
	for (let i = 0; i < data.length; i++) {
		const x = i % 32 - 16, y = Math.floor(i / 32) % 32 - 16;
		data[i] = Math.exp(-(x * x + y * y) / 10);
	}
	const pre = new Uint8Array(10 + header.length);
	pre.set([0x93, 78, 85, 77, 80, 89, 1, 0, header.length & 255, header.length >> 8]);
	for (let i = 0; i < header.length; i++) pre[10 + i] = header.charCodeAt(i);
	const dt = new DataTransfer();
	dt.items.add(new File([pre, new Uint8Array(data.buffer)], "dropped.npy"));
	const zone = document.querySelector("#dropzone");
	zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
	return zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true})) === false;
})()`

func narrowWindow(t *testing.T, b *tab, p *portal) {
	b.do(t, "narrowing the window", 10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	for _, pg := range []struct{ path, name, shot string }{
		{"/", "dashboard", "14-narrow-dashboard"},
		{"/score", "score", "15-narrow-score"},
		{"/runs", "runs", "16-narrow-runs"},
	} {
		b.do(t, "opening "+pg.path, 30*time.Second, chromedp.Navigate(p.url+pg.path))
		b.page(t, pg.name)
		if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 391 {
			t.Errorf("%s is %d px wide in a 390 px window", pg.path, w)
		}
		b.shot(t, p, pg.shot)
	}
	// The navigation folds into a menu: closed, no link shows; open, every
	// link fits the screen, and a link opens its page.
	if eval[bool](t, b, `getComputedStyle(document.querySelector("#main-nav")).display != "none"`) {
		t.Error("the navigation shows before the menu is opened")
	}
	b.click(t, "#nav-toggle")
	b.waitJS(t, "the open menu", `[...document.querySelectorAll("#main-nav a")].every(a => { const r = a.getBoundingClientRect(); return r.width > 0 && r.right <= 390 }) &&
		document.querySelector("#nav-toggle").getAttribute("aria-expanded") == "true"`, 10*time.Second)
	b.shot(t, p, "23-narrow-menu")
	b.click(t, `#main-nav a[href="/score"]`)
	b.page(t, "score")
	// The open candidate: its score, image and grade buttons on the first
	// screen, not far below the list.
	b.do(t, "opening a candidate", 30*time.Second, chromedp.Navigate(p.url+"/score?upload=1"))
	b.page(t, "score")
	b.waitJS(t, "the candidate", `!!document.querySelector("#grade-0") && !!document.querySelector("#upload-detail .big-number")`, 30*time.Second)
	for _, sel := range []string{"#upload-detail .big-number", "#candidate-image", "#grade-A", "#grade-0"} {
		if bottom := eval[float64](t, b, `document.querySelector("`+sel+`").getBoundingClientRect().bottom`); bottom > 844 {
			t.Errorf("%s ends %.0f px down a 844 px phone screen", sel, bottom)
		}
	}
	b.shot(t, p, "21-narrow-candidate")
	b.click(t, `#upload-detail a[aria-label="Close the detail"]`) // it covers the page, top bar included
	b.waitJS(t, "the list again", `!document.querySelector("#upload-detail")`, 30*time.Second)
	b.click(t, "#sign-out")
	b.page(t, "login")
	b.do(t, "opening the runs", 30*time.Second, chromedp.Navigate(p.url+"/runs"))
	b.page(t, "login") // signed out: the pages send the visitor to sign in
}

// fitsCube returns a FITS file holding a (3, n, n) float32 cube: a
// Gaussian galaxy and, when ring > 0, a ring around it.
func fitsCube(n int, ring float64) []byte {
	var hdr bytes.Buffer
	card := func(s string) { fmt.Fprintf(&hdr, "%-80s", s) }
	card("SIMPLE  =                    T")
	card("BITPIX  =                  -32")
	card("NAXIS   =                    3")
	card(fmt.Sprintf("NAXIS1  = %20d", n))
	card(fmt.Sprintf("NAXIS2  = %20d", n))
	card("NAXIS3  =                    3")
	card("END")
	for hdr.Len()%2880 != 0 {
		hdr.WriteByte(' ')
	}
	var data bytes.Buffer
	for c := 0; c < 3; c++ {
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				dx, dy := float64(x-n/2), float64(y-n/2)
				r := math.Hypot(dx, dy)
				v := float64(c+1) * math.Exp(-r*r/8)
				if ring > 0 {
					v += 0.5 * ring * math.Exp(-(r-8)*(r-8)/2)
				}
				binary.Write(&data, binary.BigEndian, float32(v))
			}
		}
	}
	for data.Len()%2880 != 0 {
		data.WriteByte(0)
	}
	return append(hdr.Bytes(), data.Bytes()...)
}
