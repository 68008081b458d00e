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

// backoff slows password guessing per key with exponential delays: the
// first free failures cost nothing, and each further one doubles the wait
// before the next attempt may be made, from base up to most. It never
// locks a key for good, and counts only the key that failed: a user
// guessed at from one address still signs in from another. A key's
// failures are forgotten on success or after 2 x most without one.
type backoff struct {
	free       int
	base, most time.Duration
	now        func() time.Time

	mu    sync.Mutex
	keys  map[string]*strikes
	swept time.Time // when expired keys were last dropped
}

// strikes are a key's failures: how many, and when the last was.
type strikes struct {
	n    int
	last time.Time
}

func newBackoff(free int, base, most time.Duration) *backoff {
	return &backoff{free: free, base: base, most: most, now: time.Now, keys: map[string]*strikes{}}
}

// wait returns how long key must wait before its next attempt, or 0.
func (b *backoff) wait(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	k := b.live(key, now)
	if k == nil || k.n < b.free {
		return 0
	}
	d := b.base
	for i := b.free; i < k.n && d < b.most; i++ {
		d *= 2
	}
	return max(0, k.last.Add(min(d, b.most)).Sub(now))
}

// fail records a failed attempt.
func (b *backoff) fail(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if now.Sub(b.swept) > b.most {
		for k := range b.keys {
			b.live(k, now)
		}
		b.swept = now
	}
	k := b.live(key, now)
	if k == nil {
		k = &strikes{}
		b.keys[key] = k
	}
	k.n++
	k.last = now
}

// succeed forgets key's failures.
func (b *backoff) succeed(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, key)
}

// live returns key's strikes, dropping them (and returning nil) once they
// are old enough to forget, so the map does not keep every address ever
// seen.
func (b *backoff) live(key string, now time.Time) *strikes {
	k := b.keys[key]
	if k != nil && now.Sub(k.last) >= 2*b.most {
		delete(b.keys, key)
		return nil
	}
	return k
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
	addr := addrKey(s.clientAddr(r))
	// Names are at most 64 bytes: a longer one keys by its start, so a
	// megabyte of name costs no megabyte of memory.
	pair := addr + " " + req.Username[:min(len(req.Username), 64)]
	if wait := max(s.pairLimit.wait(pair), s.addrLimit.wait(addr)); wait > 0 {
		return &apiError{status: http.StatusTooManyRequests, code: shared.CodeRateLimited,
			msg: fmt.Sprintf("too many failed sign-ins; try again in %d s", int(wait.Seconds())+1), retry: wait}
	}
	u, err := s.st.Authenticate(r.Context(), req.Username, req.Password)
	if errors.Is(err, store.ErrBadPassword) {
		s.pairLimit.fail(pair)
		s.addrLimit.fail(addr)
		return errUnauthorized(err.Error())
	}
	if err != nil {
		return err
	}
	s.pairLimit.succeed(pair)
	tok, sess, err := s.st.CreateSession(r.Context(), u.Name, s.opt.SessionTTL)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", Expires: sess.Expires,
		HttpOnly: true, Secure: s.opt.Secure, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, shared.Session{User: sess.User, CSRFToken: sess.CSRF, Expires: sess.Expires, GPUs: s.opt.GPUs})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *Call) error {
	ck, _ := r.Cookie(SessionCookie) // present: the route needs a session
	if err := s.st.DeleteSession(r.Context(), ck.Value); err != nil {
		return err
	}
	s.opt.Hub.EndSession(ck.Value)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.opt.Secure, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c *Call) error {
	writeJSON(w, http.StatusOK, shared.Session{User: c.Session.User, CSRFToken: c.Session.CSRF, Expires: c.Session.Expires, GPUs: s.opt.GPUs})
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
	s.opt.Hub.EndUser(name)
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
