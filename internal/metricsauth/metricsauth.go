package metricsauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long review outcomes are reused (controller-runtime's values).
const (
	// TokenTTL is how long a token's review (authenticated or not) is
	// reused.
	TokenTTL = time.Minute
	// AllowTTL and DenyTTL are how long an access review's outcome is
	// reused.
	AllowTTL = 5 * time.Minute
	DenyTTL  = 30 * time.Second
	// ReviewTimeout bounds one review.
	ReviewTimeout = 10 * time.Second
	// maxEntries bounds each cache: past it, expired entries are dropped,
	// and if none is, the cache starts over (a flood of made-up tokens
	// costs reviews, never memory).
	maxEntries = 1024
)

// Reviewer authenticates and authorizes requests through the API server.
type Reviewer struct {
	tokens  authenticationv1client.TokenReviewsGetter
	access  authorizationv1client.SubjectAccessReviewsGetter
	clock   clock.PassiveClock
	authn   *cache[authnResult]
	authz   *cache[bool]
	timeout time.Duration
}

type authnResult struct {
	ok   bool
	user authenticationv1.UserInfo
}

// New returns a Reviewer using the given clients (a clientset's
// AuthenticationV1() and AuthorizationV1()); clk may be nil for the real
// clock.
func New(tokens authenticationv1client.TokenReviewsGetter, access authorizationv1client.SubjectAccessReviewsGetter, clk clock.PassiveClock) *Reviewer {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Reviewer{
		tokens: tokens, access: access, clock: clk,
		authn: newCache[authnResult](), authz: newCache[bool](), timeout: ReviewTimeout,
	}
}

// FilterProvider is a metricsserver.Options.FilterProvider: it builds a
// Reviewer on the manager's own configuration and HTTP client.
func FilterProvider(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1client.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("metrics authentication client: %w", err)
	}
	authz, err := authorizationv1client.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("metrics authorization client: %w", err)
	}
	r := New(authn, authz, nil)
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return r.Wrap(log, next), nil
	}, nil
}

// Wrap returns next behind authentication and authorization.
func (r *Reviewer) Wrap(log logr.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := bearerToken(req)
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user, ok, err := r.authenticate(req.Context(), token)
		if err != nil {
			log.Error(err, "Authentication failed")
			http.Error(w, "Authentication failed", http.StatusInternalServerError)
			return
		}
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		allowed, err := r.authorize(req.Context(), user, strings.ToLower(req.Method), req.URL.Path)
		if err != nil {
			msg := "Authorization for user " + user.Username + " failed"
			log.Error(err, msg)
			http.Error(w, msg, http.StatusInternalServerError)
			return
		}
		if !allowed {
			http.Error(w, "Authorization denied for user "+user.Username, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(req *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// authenticate reviews token (or reuses a review younger than TokenTTL).
func (r *Reviewer) authenticate(ctx context.Context, token string) (authenticationv1.UserInfo, bool, error) {
	key := fmt.Sprintf("%x", sha256.Sum256([]byte(token)))
	if res, ok := r.authn.get(key, r.clock.Now()); ok {
		return res.user, res.ok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	tr, err := r.tokens.TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, false, fmt.Errorf("token review: %w", err)
	}
	res := authnResult{ok: tr.Status.Authenticated, user: tr.Status.User}
	r.authn.put(key, res, r.clock.Now(), TokenTTL)
	return res.user, res.ok, nil
}

// authorize asks whether user may verb path (or reuses a recent answer).
func (r *Reviewer) authorize(ctx context.Context, user authenticationv1.UserInfo, verb, path string) (bool, error) {
	groups := slices.Clone(user.Groups)
	slices.Sort(groups)
	key := strings.Join([]string{user.Username, user.UID, strings.Join(groups, ","), verb, path}, "\x00")
	if allowed, ok := r.authz.get(key, r.clock.Now()); ok {
		return allowed, nil
	}
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sar, err := r.access.SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("subject access review of %s: %w", user.Username, err)
	}
	ttl := DenyTTL
	if sar.Status.Allowed {
		ttl = AllowTTL
	}
	r.authz.put(key, sar.Status.Allowed, r.clock.Now(), ttl)
	return sar.Status.Allowed, nil
}

// cache holds values until their expiry, at most maxEntries of them.
type cache[V any] struct {
	mu      sync.Mutex
	entries map[string]entry[V]
}

type entry[V any] struct {
	v       V
	expires time.Time
}

func newCache[V any]() *cache[V] { return &cache[V]{entries: map[string]entry[V]{}} }

func (c *cache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v under key until now+ttl. A full cache first drops what
// has expired, and starts over if that frees nothing.
func (c *cache[V]) put(key string, v V, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= maxEntries {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = entry[V]{v: v, expires: now.Add(ttl)}
}

// len returns the number of entries, expired or not.
func (c *cache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
