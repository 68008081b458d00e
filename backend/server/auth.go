package server

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// limiter counts failed attempts per key in a sliding window.
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	fails map[string][]time.Time
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, now: time.Now, fails: map[string][]time.Time{}}
}

// blocked returns how long key stays blocked, or 0.
func (l *limiter) blocked(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	ts := l.prune(key, now)
	if len(ts) < l.max {
		return 0
	}
	return ts[0].Add(l.window).Sub(now)
}

// fail records a failed attempt.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.fails[key] = append(l.prune(key, now), now)
}

// prune drops attempts older than the window (and empty keys, so the map
// does not grow with every address ever seen).
func (l *limiter) prune(k string, now time.Time) []time.Time {
	ts := l.fails[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, k)
		return nil
	}
	l.fails[k] = ts
	return ts
}

func (s *Server) health(w http.ResponseWriter, r *http.Request, c *Call) error {
	writeJSON(w, http.StatusOK, shared.Health{OK: true, Version: s.opt.Version})
	return nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, c *Call) error {
	var req shared.LoginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	addr := clientAddr(r)
	if wait := max(s.userLimit.blocked(req.Username), s.addrLimit.blocked(addr)); wait > 0 {
		return &apiError{status: http.StatusTooManyRequests, code: shared.CodeRateLimited,
			msg: fmt.Sprintf("too many failed sign-ins; try again in %d s", int(wait.Seconds())+1), retry: wait}
	}
	u, err := s.st.Authenticate(r.Context(), req.Username, req.Password)
	if errors.Is(err, store.ErrBadPassword) {
		s.userLimit.fail(req.Username)
		s.addrLimit.fail(addr)
		return errUnauthorized(err.Error())
	}
	if err != nil {
		return err
	}
	tok, sess, err := s.st.CreateSession(r.Context(), u.Name, s.opt.SessionTTL)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", Expires: sess.Expires,
		HttpOnly: true, Secure: s.opt.Secure, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, shared.Session{User: sess.User, CSRFToken: sess.CSRF, Expires: sess.Expires})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *Call) error {
	ck, _ := r.Cookie(SessionCookie) // present: the route needs a session
	if err := s.st.DeleteSession(r.Context(), ck.Value); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.opt.Secure, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c *Call) error {
	writeJSON(w, http.StatusOK, shared.Session{User: c.Session.User, CSRFToken: c.Session.CSRF, Expires: c.Session.Expires})
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *Call) error {
	us, err := s.st.Users(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, us)
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *Call) error {
	var req shared.CreateUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	resp := shared.CreateUserResponse{}
	pw := req.Password
	if pw == "" {
		pw = store.GeneratePassword()
		resp.Password = pw
	}
	u, err := s.st.CreateUser(r.Context(), req.Name, req.Role, pw)
	if err != nil {
		return err
	}
	resp.User = u
	if err := s.st.Audit(r.Context(), c.User(), "user.create", "user "+u.Name, "role "+string(u.Role)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c *Call) error {
	name := r.PathValue("name")
	if name == c.User() {
		return errConflict("you cannot delete your own account")
	}
	if err := s.st.DeleteUser(r.Context(), name); err != nil {
		return err
	}
	if err := s.st.Audit(r.Context(), c.User(), "user.delete", "user "+name, ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request, c *Call) error {
	n, err := queryInt(r, "limit", 100, 1, 10000)
	if err != nil {
		return err
	}
	log, err := s.st.AuditLog(r.Context(), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, log)
	return nil
}
