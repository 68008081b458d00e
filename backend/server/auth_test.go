package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/shared"
)

// routePath fills a route pattern's parameters with values that exist.
func (f *fixture) routePath(pattern string) string {
	img := f.dsIx.images[0].ID
	class, file, _ := strings.Cut(img, "/")
	return strings.NewReplacer("{id}", "1", "{run}", "1", "{name}", astroUser, "{class}", class, "{file}", file).Replace(pattern)
}

// Every route refuses what it must refuse, before doing anything: the
// table drives the test, so a route added later is covered too.
func TestEveryRouteChecksAuthAndCSRF(t *testing.T) {
	f := newFixture(t, HubOptions{})
	anon, astro, adm := f.anon(t), f.login(t, astroUser), f.login(t, adminUser)
	before := f.fingerprint(t)
	var publicRoutes []string
	for _, rt := range f.srv.Routes() {
		path := f.routePath(rt.Pattern)
		name := rt.Method + " " + rt.Pattern
		body := []byte(`{}`)
		if rt.Role == public {
			publicRoutes = append(publicRoutes, name)
		} else {
			code, e := anon.apiErr(rt.Method, path, "application/json", body)
			if code != http.StatusUnauthorized || e.Code != shared.CodeUnauthorized {
				t.Errorf("%s without a session: %d %q, want 401 unauthorized", name, code, e.Code)
			}
			bad := f.anon(t)
			bad.hc.Jar.SetCookies(mustURL(f.ts.URL), []*http.Cookie{{Name: SessionCookie, Value: "forged"}})
			if code, _ := bad.apiErr(rt.Method, path, "application/json", body); code != http.StatusUnauthorized {
				t.Errorf("%s with a forged session: %d, want 401", name, code)
			}
		}
		if rt.Role == admin {
			code, e := astro.apiErr(rt.Method, path, "application/json", body)
			if code != http.StatusForbidden || e.Code != shared.CodeForbidden {
				t.Errorf("%s as an astronomer: %d %q, want 403 forbidden", name, code, e.Code)
			}
		}
		if stateChanging(rt.Method) && rt.Role != public {
			for _, tok := range []string{"", "wrong-token"} {
				c := *adm
				c.csrf = tok
				code, e := c.apiErr(rt.Method, path, "application/json", body)
				if code != http.StatusForbidden || e.Code != shared.CodeCSRF {
					t.Errorf("%s with CSRF token %q: %d %q, want 403 csrf", name, tok, code, e.Code)
				}
			}
		}
		if stateChanging(rt.Method) || rt.Pattern == "/api/ws" {
			resp := adm.request(rt.Method, path, bytes.NewReader(body), "application/json",
				"Origin", "http://evil.example", "Upgrade", map[bool]string{true: "websocket"}[rt.Pattern == "/api/ws"],
				"Connection", "Upgrade", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s from a foreign origin: %d, want 403", name, resp.StatusCode)
			}
		}
	}
	slices.Sort(publicRoutes)
	if want := []string{"GET /api/health", "POST /api/login"}; !slices.Equal(publicRoutes, want) {
		t.Errorf("public routes %v, want only %v", publicRoutes, want)
	}
	if after := f.fingerprint(t); after != before {
		t.Errorf("refused requests changed state:\nbefore %s\nafter  %s", before, after)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// API.md lists exactly the routes the server has.
func TestAPIReferenceListsEveryRoute(t *testing.T) {
	f := newFixture(t, HubOptions{})
	fh, err := os.Open("API.md")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	row := regexp.MustCompile("^\\| (GET|POST|PUT|PATCH|DELETE) \\| (/api/\\S+) \\| (-|A|admin) \\|")
	doc := map[string]string{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			doc[m[1]+" "+m[2]] = m[3]
		}
	}
	roles := map[shared.Role]string{public: "-", astronomer: "A", admin: "admin"}
	for _, rt := range f.srv.Routes() {
		name := rt.Method + " " + rt.Pattern
		role, ok := doc[name]
		if !ok {
			t.Errorf("API.md does not list %s", name)
			continue
		}
		if role != roles[rt.Role] {
			t.Errorf("API.md gives %s role %q, the server %q", name, role, roles[rt.Role])
		}
		delete(doc, name)
	}
	for name := range doc {
		t.Errorf("API.md lists %s, which the server does not have", name)
	}
}

func TestLoginLogoutAndRateLimit(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.anon(t)
	tests := []struct {
		name, body, ct string
		code           int
		ecode          shared.ErrorCode
	}{
		{"malformed JSON", `{"username": "ada", `, "application/json", 400, shared.CodeBadRequest},
		{"wrong type", `{"username": 5, "password": "x"}`, "application/json", 400, shared.CodeBadRequest},
		{"unknown field", `{"username": "ada", "password": "x", "admin": true}`, "application/json", 400, shared.CodeBadRequest},
		{"trailing data", `{"username": "ada", "password": "x"} {}`, "application/json", 400, shared.CodeBadRequest},
		{"form body", `username=ada&password=x`, "application/x-www-form-urlencoded", 415, shared.CodeBadRequest},
		{"oversize", `{"username": "` + strings.Repeat("a", maxJSONBytes) + `"}`, "application/json", 413, shared.CodeTooLarge},
		{"unknown user", `{"username": "nobody", "password": "ada-password"}`, "application/json", 401, shared.CodeUnauthorized},
	}
	for _, tt := range tests {
		code, e := c.apiErr("POST", "/api/login", tt.ct, []byte(tt.body))
		if code != tt.code || e.Code != tt.ecode {
			t.Errorf("%s: %d %q, want %d %q", tt.name, code, e.Code, tt.code, tt.ecode)
		}
	}

	// Three failures of a user from one address make that pair wait
	// (LoginFailures is 3 here).
	for range 3 {
		if code := c.json("POST", "/api/login", shared.LoginRequest{Username: astroUser, Password: "wrong"}, nil); code != 401 {
			t.Fatalf("wrong password: %d", code)
		}
	}
	resp := c.request("POST", "/api/login", strings.NewReader(`{"username":"vera","password":"vera-password"}`), "application/json")
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after 3 failures: %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	later := func() time.Time { return time.Now().Add(2 * time.Second) }
	f.srv.pairLimit.now, f.srv.addrLimit.now = later, later
	c = f.login(t, astroUser) // the first wait (1 s) has passed

	var me shared.Session
	if code := c.json("GET", "/api/me", nil, &me); code != 200 || me.User.Name != astroUser || me.CSRFToken != c.csrf {
		t.Fatalf("me: %d %+v", code, me)
	}
	var cookie *http.Cookie
	for _, ck := range c.hc.Jar.Cookies(mustURL(f.ts.URL)) {
		if ck.Name == SessionCookie {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	if code := c.json("POST", "/api/logout", nil, nil); code != http.StatusNoContent {
		t.Errorf("logout: %d", code)
	}
	// The old cookie no longer works even if a client keeps it.
	c.hc.Jar.SetCookies(mustURL(f.ts.URL), []*http.Cookie{cookie})
	if code := c.json("GET", "/api/me", nil, nil); code != 401 {
		t.Errorf("me after logout: %d, want 401", code)
	}
}

func TestHealthPlaceholderAndUnknownRoutes(t *testing.T) {
	f := newFixture(t, HubOptions{})
	c := f.anon(t)
	var h shared.Health
	if code := c.json("GET", "/api/health", nil, &h); code != 200 || !h.OK || h.Version != "test" {
		t.Errorf("health: %d %+v", code, h)
	}
	resp := c.request("GET", "/", nil, "")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<title>sslens</title>") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("placeholder: %d %q", resp.StatusCode, b)
	}
	if code, e := c.apiErr("GET", "/api/nope", "", nil); code != 404 || e.Code != shared.CodeNotFound {
		t.Errorf("unknown API route: %d %+v", code, e)
	}
	// A mounted app serves every other path.
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app "+r.URL.Path) })
	srv, err := New(Options{DataDir: f.dir, Store: f.st, Jobs: f.mgr, Hub: f.hub, App: app})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/": "app /", "/runs/3": "app /runs/3"} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Body.String() != want {
			t.Errorf("GET %s: %q, want %q", path, rec.Body.String(), want)
		}
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/api/health", nil))
	if !strings.Contains(rec.Body.String(), `"ok":true`) {
		t.Errorf("the app shadows the API: %q", rec.Body.String())
	}
	if _, err := New(Options{DataDir: "relative", Store: f.st, Jobs: f.mgr, Hub: f.hub}); err == nil {
		t.Error("a relative data folder was accepted")
	}
	if _, err := New(Options{DataDir: f.dir}); err == nil {
		t.Error("a server without a store was made")
	}
}

func TestLoginCookieFlags(t *testing.T) {
	f := newFixture(t, HubOptions{})
	resp := f.anon(t).request("POST", "/api/login", strings.NewReader(`{"username":"ada","password":"ada-password"}`), "application/json")
	resp.Body.Close()
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure without TLS", ck)
	}
	f.srv.opt.Secure = true
	resp = f.anon(t).request("POST", "/api/login", strings.NewReader(`{"username":"ada","password":"ada-password"}`), "application/json")
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie && !c.Secure {
			t.Error("cookie not Secure with TLS")
		}
	}
}

func TestUsersAndAudit(t *testing.T) {
	f := newFixture(t, HubOptions{})
	adm := f.login(t, adminUser)
	var created shared.CreateUserResponse
	if code := adm.json("POST", "/api/users", shared.CreateUserRequest{Name: "hubble", Role: shared.RoleAstronomer}, &created); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if created.Password == "" || created.User.Name != "hubble" {
		t.Fatalf("created %+v", created)
	}
	hub := f.anon(t)
	var sess shared.Session
	if code := hub.json("POST", "/api/login", shared.LoginRequest{Username: "hubble", Password: created.Password}, &sess); code != 200 {
		t.Errorf("the generated password does not sign in: %d", code)
	}
	bad := []struct {
		name  string
		req   shared.CreateUserRequest
		code  int
		field string
	}{
		{"bad name", shared.CreateUserRequest{Name: "../x", Role: shared.RoleAdmin}, 422, "name"},
		{"bad role", shared.CreateUserRequest{Name: "x", Role: "root"}, 422, "role"},
		{"short password", shared.CreateUserRequest{Name: "x", Role: shared.RoleAdmin, Password: "short"}, 422, "password"},
		{"duplicate", shared.CreateUserRequest{Name: "hubble", Role: shared.RoleAdmin, Password: "0123456789"}, 409, ""},
	}
	for _, b := range bad {
		body, _ := json.Marshal(b.req)
		code, e := adm.apiErr("POST", "/api/users", "application/json", body)
		if code != b.code || (b.field != "" && (len(e.Fields) == 0 || e.Fields[0].Key != b.field)) {
			t.Errorf("%s: %d %+v", b.name, code, e)
		}
	}
	if code, _ := adm.apiErr("DELETE", "/api/users/"+adminUser, "", nil); code != 409 {
		t.Errorf("deleting yourself: %d, want 409", code)
	}
	if code, _ := adm.apiErr("DELETE", "/api/users/nobody", "", nil); code != 404 {
		t.Errorf("deleting nobody: %d, want 404", code)
	}
	if code := adm.json("DELETE", "/api/users/hubble", nil, nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code := hub.json("GET", "/api/me", nil, nil); code != 401 {
		t.Errorf("a deleted user's session still works: %d", code)
	}
	var users []shared.User
	adm.json("GET", "/api/users", nil, &users)
	if len(users) != 2 {
		t.Errorf("users %+v", users)
	}
	var log []shared.AuditEntry
	if code := adm.json("GET", "/api/audit?limit=10", nil, &log); code != 200 || len(log) != 2 ||
		log[0].Action != "user.delete" || log[1].Action != "user.create" || log[0].User != adminUser {
		t.Errorf("audit %d %+v", code, log)
	}
	if code, _ := adm.apiErr("GET", "/api/audit?limit=x", "", nil); code != 400 {
		t.Errorf("bad limit: %d", code)
	}
}

func TestBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBackoff(2, time.Second, 8*time.Second)
	b.now = func() time.Time { return now }
	steps := []struct {
		advance time.Duration
		fail    bool
		wait    time.Duration
	}{
		{0, true, 0},
		{0, true, time.Second}, // two free failures, then 1 s
		{time.Second, true, 2 * time.Second},
		{2 * time.Second, true, 4 * time.Second},
		{4 * time.Second, true, 8 * time.Second},
		{8 * time.Second, true, 8 * time.Second}, // at most 8 s
		{3 * time.Second, false, 5 * time.Second},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if s.fail {
			b.fail("k")
		}
		if got := b.wait("k"); got != s.wait {
			t.Errorf("step %d: wait %v, want %v", i, got, s.wait)
		}
	}
	if b.wait("other") != 0 {
		t.Error("a key without failures waits")
	}
	now = now.Add(16 * time.Second) // 2 x most without a failure
	if b.wait("k") != 0 || len(b.keys) != 0 {
		t.Errorf("old failures kept: %d keys", len(b.keys))
	}
	b.fail("k")
	b.fail("k")
	b.succeed("k")
	if b.wait("k") != 0 {
		t.Error("a success did not clear the failures")
	}
}

// loginFrom signs in through the handler as a client at addr would
// (hdr: extra header pairs), returning the status.
func (f *fixture) loginFrom(addr, user, password string, hdr ...string) int {
	body, _ := json.Marshal(shared.LoginRequest{Username: user, Password: password})
	req := httptest.NewRequest("POST", "/api/login", bytes.NewReader(body))
	req.RemoteAddr = addr
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec.Code
}

// Failed sign-ins from one address cannot lock the account for its owner
// elsewhere; behind a trusted proxy the forwarded address counts, and from
// anyone else the header is ignored.
func TestLoginBackoffIsPerAddress(t *testing.T) {
	f := newFixture(t, HubOptions{})
	frozen := time.Now() // the waits do not run out while the test runs
	f.srv.pairLimit.now = func() time.Time { return frozen }
	const attacker, owner = "198.51.100.7:4000", "203.0.113.9:5000"
	for range 5 {
		if code := f.loginFrom(attacker, adminUser, "guess"); code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Fatalf("a guess: %d", code)
		}
	}
	if code := f.loginFrom(attacker, adminUser, adminUser+"-password"); code != http.StatusTooManyRequests {
		t.Errorf("the guessing address with the right password: %d, want 429 (it waits)", code)
	}
	if code := f.loginFrom(owner, adminUser, adminUser+"-password"); code != http.StatusOK {
		t.Errorf("the owner from another address after 5 guesses elsewhere: %d, want 200", code)
	}

	// Without a trusted proxy a forged X-Forwarded-For changes nothing.
	xff := "X-Forwarded-For"
	if code := f.loginFrom(attacker, adminUser, adminUser+"-password", xff, "192.0.2.1"); code != http.StatusTooManyRequests {
		t.Errorf("a forged X-Forwarded-For escaped the wait: %d", code)
	}
	// Behind a trusted proxy, each forwarded client has its own count.
	const proxy = "10.0.0.2:6000"
	f.srv.opt.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
	for range 4 {
		f.loginFrom(proxy, astroUser, "guess", xff, "192.0.2.66, 10.0.0.3")
	}
	if code := f.loginFrom(proxy, astroUser, astroUser+"-password", xff, "192.0.2.66"); code != http.StatusTooManyRequests {
		t.Errorf("the guessing client behind the proxy: %d, want 429", code)
	}
	if code := f.loginFrom(proxy, astroUser, astroUser+"-password", xff, "spoofed, 192.0.2.77"); code != http.StatusOK {
		t.Errorf("another client behind the proxy: %d, want 200", code)
	}
}

func TestClientAddr(t *testing.T) {
	s := &Server{opt: Options{ProxyHeader: DefaultProxyHeader, TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	tests := []struct{ peer, xff, want string }{
		{"192.0.2.1:80", "198.51.100.1", "192.0.2.1"},             // untrusted peer: header ignored
		{"10.1.2.3:80", "", "10.1.2.3"},                           // trusted peer, no header
		{"10.1.2.3:80", "198.51.100.1, 10.9.9.9", "198.51.100.1"}, // proxies chained
		{"10.1.2.3:80", "203.0.113.5, 198.51.100.1", "198.51.100.1"},
		{"10.1.2.3:80", "junk, 10.2.2.2", "10.2.2.2"},
		{"[::1]:80", "2001:db8::1", "2001:db8::1"},
		{"[::ffff:192.0.2.9]:80", "", "192.0.2.9"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := s.clientAddr(r).String(); got != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
	if k := addrKey(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")); k != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 key %s, want its /64", k)
	}
}

// Origin is compared with the configured origins and the address the
// connection came in on, never with the request's own Host: a page on a
// name rebound to this server (DNS rebinding) sends that name in both.
func TestOriginIsNotTheHost(t *testing.T) {
	f := newFixture(t, HubOptions{})
	f.srv.origins["https://portal.example.org"] = true
	adm := f.login(t, adminUser)
	host := strings.TrimPrefix(f.ts.URL, "http://")
	_, port, _ := strings.Cut(host, ":")
	tests := []struct {
		host, origin string
		ok           bool
	}{
		{"rebound.example:" + port, "http://rebound.example:" + port, false},
		{host, "http://rebound.example:" + port, false},
		{host, "https://" + host, false}, // the scheme counts
		{host, "http://" + host + ":1", false},
		{host, "null", false},
		{host, "http://" + host, true},
		{host, "http://localhost:" + port, true}, // loopback
		{host, "https://portal.example.org", true},
		{host, "https://PORTAL.example.org:443/", true},
		{host, "", true}, // not a browser
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("POST", f.ts.URL+"/api/users", strings.NewReader(`{"name": "x", "role": "root"}`))
		req.Host = tt.host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(shared.CSRFHeader, adm.csrf)
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		resp, err := adm.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if refused := resp.StatusCode == http.StatusForbidden; refused == tt.ok {
			t.Errorf("Host %s, Origin %q: status %d, want allowed %v", tt.host, tt.origin, resp.StatusCode, tt.ok)
		}
	}
	if _, err := New(Options{DataDir: f.dir, Store: f.st, Jobs: f.mgr, Hub: f.hub, Origins: []string{"portal.example.org"}}); err == nil {
		t.Error("an origin without a scheme was accepted")
	}
}
