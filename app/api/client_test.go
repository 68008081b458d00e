package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/sslens/sslens/shared"
)

// fakeServer answers the few routes the tests call and records the CSRF
// header of each state-changing request.
func fakeServer(t *testing.T) (*httptest.Server, *[]string) {
	t.Helper()
	var csrf []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		var req shared.LoginRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("Content-Type") != "application/json" {
			writeJSON(w, 400, shared.Error{Err: shared.ErrorBody{Code: shared.CodeBadRequest, Message: "bad body"}})
			return
		}
		if req.Password != "right" {
			writeJSON(w, 401, shared.Error{Err: shared.ErrorBody{Code: shared.CodeUnauthorized, Message: "wrong user name or password"}})
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sslens_session", Value: "s1", Path: "/"})
		writeJSON(w, 200, shared.Session{User: shared.User{Name: req.Username, Role: shared.RoleAdmin}, CSRFToken: "tok"})
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sslens_session"); err != nil || c.Value != "s1" {
			writeJSON(w, 401, shared.Error{Err: shared.ErrorBody{Code: shared.CodeUnauthorized, Message: "sign in"}})
			return
		}
		writeJSON(w, 200, shared.Session{User: shared.User{Name: "ada", Role: shared.RoleAdmin}, CSRFToken: "tok"})
	})
	mux.HandleFunc("POST /api/runs", func(w http.ResponseWriter, r *http.Request) {
		csrf = append(csrf, r.Header.Get(shared.CSRFHeader))
		writeJSON(w, 422, shared.Error{Err: shared.ErrorBody{Code: shared.CodeInvalid, Message: "config invalid",
			Fields: []shared.FieldError{{Key: "optimizer.init_lr", Message: "want > 0"}}}})
	})
	mux.HandleFunc("POST /api/logout", func(w http.ResponseWriter, r *http.Request) {
		csrf = append(csrf, r.Header.Get(shared.CSRFHeader))
		w.WriteHeader(204)
	})
	mux.HandleFunc("GET /api/datasets/{id}/images", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, shared.ImagePage{Dataset: 1, Total: 2, Page: 1, PerPage: 48,
			Images: []shared.ImageSummary{{ID: "lenses/1.npy", Class: shared.ClassLens}, {ID: "lenses/2.npy", Class: shared.ClassLens}}})
	})
	mux.HandleFunc("GET /api/teapot", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		w.Write([]byte("<html>bad gateway</html>"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &csrf
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func newTestClient(t *testing.T, base string) *Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(base, &http.Client{Jar: jar})
}

func TestSessionAndCSRF(t *testing.T) {
	srv, csrf := fakeServer(t)
	c := newTestClient(t, srv.URL+"/")
	ctx := context.Background()

	if _, err := c.Me(ctx); !IsUnauthorized(err) {
		t.Fatalf("Me before login: err = %v, want unauthorized", err)
	}
	if _, err := c.Login(ctx, "ada", "wrong"); !IsUnauthorized(err) || err.Error() != "wrong user name or password" {
		t.Fatalf("bad login: err = %v, want the server's 401 message", err)
	}
	if c.CSRF() != "" {
		t.Fatalf("token after a failed login: %q", c.CSRF())
	}
	s, err := c.Login(ctx, "ada", "right")
	if err != nil {
		t.Fatal(err)
	}
	if s.User.Role != shared.RoleAdmin || c.CSRF() != "tok" {
		t.Fatalf("login: role %q token %q", s.User.Role, c.CSRF())
	}
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("Me after login (cookie not kept?): %v", err)
	}

	_, err = c.CreateRun(ctx, shared.CreateRunRequest{Kind: shared.KindFinetune, Config: "x"})
	want := []shared.FieldError{{Key: "optimizer.init_lr", Message: "want > 0"}}
	if got := FieldErrors(err); !reflect.DeepEqual(got, want) {
		t.Fatalf("field errors = %v, want %v (err %v)", got, want, err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != 422 || e.Code != shared.CodeInvalid {
		t.Fatalf("err = %#v, want a 422 invalid *Error", err)
	}

	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if c.CSRF() != "" {
		t.Errorf("token kept after logout: %q", c.CSRF())
	}
	if !reflect.DeepEqual(*csrf, []string{"tok", "tok"}) {
		t.Errorf("CSRF headers sent = %q, want the token on both POSTs", *csrf)
	}
}

func TestDecodeNonJSONError(t *testing.T) {
	srv, _ := fakeServer(t)
	c := newTestClient(t, srv.URL)
	err := c.do(context.Background(), http.MethodGet, "/api/teapot", nil, nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != 502 || e.Message != "502 Bad Gateway" {
		t.Fatalf("err = %#v, want a 502 *Error naming the status", err)
	}
}

func TestImages(t *testing.T) {
	srv, _ := fakeServer(t)
	c := newTestClient(t, srv.URL)
	p, err := c.Images(context.Background(), 1, ImageQuery{Split: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 2 || len(p.Images) != 2 || p.Images[1].ID != "lenses/2.npy" {
		t.Errorf("page = %+v", p)
	}
}

func TestImageQueryValues(t *testing.T) {
	tests := []struct {
		q    ImageQuery
		want string
	}{
		{ImageQuery{}, ""},
		{ImageQuery{Split: "val", Class: shared.ClassLens, Page: 3, PerPage: 24}, "class=lenses&page=3&per_page=24&split=val"},
		{ImageQuery{Sort: "theta_e", Desc: true}, "order=desc&sort=theta_e"},
		{ImageQuery{Sort: "name"}, "order=asc&sort=name"},
		{ImageQuery{Desc: true}, ""}, // an order without a sort key means nothing
	}
	for _, tt := range tests {
		if got := tt.q.Values().Encode(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.q, got, tt.want)
		}
	}
}

func TestPaths(t *testing.T) {
	tests := []struct{ got, want string }{
		{ImagePNG(2, "lenses/12.npy", PNG{}), "/api/datasets/2/images/lenses/12.npy/png"},
		{ImagePNG(2, "nonlenses/a b#1.npy", PNG{Band: "g", Stretch: "log", Scale: 4}),
			"/api/datasets/2/images/nonlenses/a%20b%231.npy/png?band=g&scale=4&stretch=log"},
		{UploadPNG(7, PNG{Scale: 2}), "/api/uploads/7/png?scale=2"},
		{ExportURL("csv", 0, false), "/api/uploads/export?format=csv"},
		{ExportURL("votable", 9, true), "/api/uploads/export?checkpoint=9&format=votable&mine=1"},
		{New("https://h:1/", nil).wsURL(), "wss://h:1/api/ws"},
		{New("http://127.0.0.1:8080", nil).wsURL(), "ws://127.0.0.1:8080/api/ws"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
