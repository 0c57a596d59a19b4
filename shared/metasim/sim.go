// Package metasim stands in for Meta: the WhatsApp customer's side (it builds,
// signs and posts webhooks exactly as Meta does) and the Graph API's side (an
// http.Handler serving /{version}/{phone-number-id}/messages, media upload,
// media lookup and download, then posting status webhooks for what it
// accepted). Tests and the local stack embed it; scripts/simulator drives it
// from the command line.
//
// The simulator keeps its own view of the world: which customers wrote to
// which business number and when (the 24 h customer service window it
// enforces with error 131047), and, per customer, what the business sent
// (the outbox).
package metasim

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults for a simulator configured with no business number.
const (
	DefaultPhoneNumberID      = "106540352242922"
	DefaultDisplayPhoneNumber = "15550783881"
	DefaultWABAID             = "102290129340398"
	DefaultAccessToken        = "sim-access-token"
)

// Number is a business phone number the simulator hosts.
type Number struct {
	PhoneNumberID      string
	DisplayPhoneNumber string
	WABAID             string
	AccessTokens       []string // bearer tokens accepted for this number (and for listing its account's numbers)
	VerifiedName       string   // default: the account's name
	// CodeVerificationStatus is VERIFIED by default; NOT_VERIFIED or
	// EXPIRED play a number whose ownership Meta has not verified.
	CodeVerificationStatus string
	QualityRating          string // default GREEN
}

// Config configures a Sim. The zero value works: one default number with
// DefaultAccessToken, statuses sent, delivered, read, posted to WebhookURL
// (set it before sending).
type Config struct {
	WebhookURL  string // where webhooks are POSTed
	AppSecret   string // signs X-Hub-Signature-256
	VerifyToken string // for Handshake
	// Numbers and WABAs are the business numbers hosted; a number listed
	// alone belongs to the account its WABAID names.
	Numbers []Number
	WABAs   []WABA
	// AppID is the Meta app id Embedded Signup's code exchange expects
	// (with AppSecret as its client secret); default DefaultAppID.
	AppID string
	// StateFile keeps customers, issued business tokens, signup codes and
	// webhook subscriptions across restarts; nothing is kept when empty.
	StateFile string
	// PageSize of GET /{waba-id}/phone_numbers; default 25.
	PageSize int

	// Statuses posted after each accepted send, in order; nil means
	// sent, delivered, read; an empty non-nil slice posts none.
	Statuses          []string
	StatusDelay       time.Duration // before each status; default 20ms
	ShuffleStatuses   bool          // post them out of order, as Meta may
	DuplicateStatuses bool          // post each twice, as Meta may
	// PricingModel of status webhooks: "PMP" (default, per-message, since
	// 2025-07-01) or "CBP" (conversation-based, with a conversation object).
	PricingModel string

	Window time.Duration // customer service window; default 24h
	// WindowClosedAsFailedStatus accepts a send outside the window and
	// reports 131047 in a "failed" status webhook (what Meta does for most
	// accounts) instead of answering the send with a 131047 error.
	WindowClosedAsFailedStatus bool

	// OmitUserIDs leaves business-scoped user ids out of webhooks for
	// customers who have a phone number (the pre-2026 payload shape).
	OmitUserIDs bool

	MaxAttempts  int           // webhook POST attempts; default 4
	RetryBackoff time.Duration // first retry delay, doubling; default 500ms

	// PublicURL is where this simulator's handler is reachable, for the
	// media download URLs it hands out; default: the Host of the request.
	PublicURL  string
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Sim is the simulator. It is safe for concurrent use.
type Sim struct {
	cfg     Config
	numbers map[string]*Number // by phone number id
	order   []string           // phone number ids in configuration order
	wabas   map[string]*WABA   // by id

	now  func() time.Time
	log  *slog.Logger
	http *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	webhookURL string
	byWaID     map[string]*customer
	byUserID   map[string]*customer
	sent       []*SentMessage
	sentByID   map[string]*SentMessage
	media      map[string]*mediaObject
	failures   []forcedFailure
	readMarks  map[string]bool
	rnd        *mrand.Rand
	tokens     map[string]*grant   // access token -> what it may touch
	issued     map[string][]string // business tokens the code exchange issued -> WABA ids
	codes      map[string]signupCode
	subscribed map[string]bool // WABA ids the app subscribed to
}

type customer struct {
	waID, userID, name, username string
	lastInbound                  map[string]time.Time // by business phone number id
}

func (c *customer) key() string {
	if c.waID != "" {
		return c.waID
	}
	return c.userID
}

type forcedFailure struct {
	code  int
	count int
}

// New returns a simulator. Call Close when done to stop status deliveries.
// A state file that cannot be read is logged and started afresh.
func New(cfg Config) *Sim {
	if len(cfg.Numbers) == 0 && len(cfg.WABAs) == 0 {
		cfg.Numbers = []Number{{PhoneNumberID: DefaultPhoneNumberID, DisplayPhoneNumber: DefaultDisplayPhoneNumber, WABAID: DefaultWABAID, AccessTokens: []string{DefaultAccessToken}}}
	}
	if cfg.Statuses == nil {
		cfg.Statuses = []string{"sent", "delivered", "read"}
	}
	if cfg.StatusDelay == 0 {
		cfg.StatusDelay = 20 * time.Millisecond
	}
	if cfg.PricingModel == "" {
		cfg.PricingModel = "PMP"
	}
	if cfg.Window == 0 {
		cfg.Window = 24 * time.Hour
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 4
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 500 * time.Millisecond
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 25
	}
	s := &Sim{
		cfg:        cfg,
		numbers:    map[string]*Number{},
		wabas:      map[string]*WABA{},
		tokens:     map[string]*grant{},
		issued:     map[string][]string{},
		codes:      map[string]signupCode{},
		subscribed: map[string]bool{},
		now:        cfg.Now,
		log:        cfg.Logger,
		http:       cfg.HTTPClient,
		webhookURL: cfg.WebhookURL,
		byWaID:     map[string]*customer{},
		byUserID:   map[string]*customer{},
		sentByID:   map[string]*SentMessage{},
		media:      map[string]*mediaObject{},
		readMarks:  map[string]bool{},
		rnd:        mrand.New(mrand.NewPCG(randUint64(), randUint64())),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.http == nil {
		s.http = &http.Client{Timeout: 30 * time.Second}
	}
	s.setupAccounts(cfg)
	if err := s.load(); err != nil {
		s.log.Warn("metasim: starting without the saved state", "err", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Close stops pending status deliveries and waits for them to end.
func (s *Sim) Close() {
	s.cancel()
	s.wg.Wait()
}

// Wait blocks until every status delivery started so far has finished.
func (s *Sim) Wait() { s.wg.Wait() }

// WebhookURL returns where webhooks go.
func (s *Sim) WebhookURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhookURL
}

// FailNext makes the next count sends fail with the Graph error code (for
// example 130429 to exercise retries). Calls queue up.
func (s *Sim) FailNext(code, count int) {
	if count <= 0 {
		return
	}
	s.mu.Lock()
	s.failures = append(s.failures, forcedFailure{code: code, count: count})
	s.mu.Unlock()
}

// takeFailure consumes one forced failure, if any is queued.
func (s *Sim) takeFailure() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) == 0 {
		return 0, false
	}
	f := &s.failures[0]
	code := f.code
	if f.count--; f.count == 0 {
		s.failures = s.failures[1:]
	}
	return code, true
}

// Number returns the business number with the given id ("" for the first configured).
func (s *Sim) Number(phoneNumberID string) (Number, bool) {
	if phoneNumberID == "" {
		return *s.numbers[s.order[0]], true
	}
	n, ok := s.numbers[phoneNumberID]
	if !ok {
		return Number{}, false
	}
	return *n, true
}

// WindowOpen reports whether the customer (wa_id or BSUID) wrote to the
// business number within the window, by what the simulator delivered.
func (s *Sim) WindowOpen(phoneNumberID, customerID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windowOpenLocked(phoneNumberID, s.lookupLocked(customerID))
}

func (s *Sim) windowOpenLocked(phoneNumberID string, c *customer) bool {
	if c == nil {
		return false
	}
	last, ok := c.lastInbound[phoneNumberID]
	return ok && s.now().Sub(last) < s.cfg.Window
}

func (s *Sim) lookupLocked(id string) *customer {
	if c := s.byWaID[NormalizePhone(id)]; c != nil && id != "" {
		return c
	}
	return s.byUserID[id]
}

// customerLocked finds or creates the customer for an inbound message and
// fills in the BSUID Meta would assign.
func (s *Sim) customerLocked(waID, userID, name, username string, wabaID string) *customer {
	var c *customer
	if waID != "" {
		c = s.byWaID[waID]
	}
	if c == nil && userID != "" {
		c = s.byUserID[userID]
	}
	if c == nil {
		c = &customer{lastInbound: map[string]time.Time{}}
	}
	if waID != "" {
		c.waID = waID
		s.byWaID[waID] = c
	}
	if userID == "" && c.userID == "" {
		userID = BSUID(wabaID, waID)
	}
	if userID != "" && userID != c.userID {
		c.userID = userID
		s.byUserID[userID] = c
	}
	if name != "" {
		c.name = name
	}
	if c.name == "" {
		c.name = "Customer " + last4(c.key())
	}
	if username != "" {
		c.username = username
	}
	return c
}

func last4(s string) string {
	if len(s) > 4 {
		return s[len(s)-4:]
	}
	return s
}

// NormalizePhone turns "+1 (650) 555-1234" into "16505551234", as Meta does
// with the "to" of a send; anything with letters is returned unchanged.
func NormalizePhone(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return p
		}
	}
	return b.String()
}

// countryByPrefix maps calling codes to the ISO country that prefixes a BSUID.
var countryByPrefix = []struct{ prefix, country string }{
	{"1", "US"}, {"7", "RU"}, {"20", "EG"}, {"27", "ZA"}, {"30", "GR"}, {"31", "NL"}, {"32", "BE"}, {"33", "FR"},
	{"34", "ES"}, {"39", "IT"}, {"44", "GB"}, {"49", "DE"}, {"51", "PE"}, {"52", "MX"}, {"54", "AR"}, {"55", "BR"},
	{"56", "CL"}, {"57", "CO"}, {"58", "VE"}, {"61", "AU"}, {"62", "ID"}, {"63", "PH"}, {"65", "SG"}, {"81", "JP"},
	{"82", "KR"}, {"90", "TR"}, {"91", "IN"}, {"234", "NG"}, {"254", "KE"}, {"351", "PT"}, {"353", "IE"}, {"971", "AE"},
}

// BSUID returns the business-scoped user id the simulator assigns to a phone
// number within a business (stable, Meta's shape: "US.13491208655302741918").
func BSUID(wabaID, waID string) string {
	if waID == "" {
		return ""
	}
	country, best := "US", 0
	for _, c := range countryByPrefix {
		if strings.HasPrefix(waID, c.prefix) && len(c.prefix) > best {
			country, best = c.country, len(c.prefix)
		}
	}
	h := fnv64(wabaID + "|" + waID)
	return fmt.Sprintf("%s.1%019d", country, h%1e19) // 20 digits, like Meta's examples
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// NewWamid returns a WhatsApp message id in Meta's shape: "wamid." and the
// base64 of a small record holding the customer's number and a random hex
// id (20 characters for inbound messages, 18 for outbound).
func NewWamid(customer string, inbound bool) string {
	n, kind := 9, byte(0x11)
	if inbound {
		n, kind = 10, 0x12
	}
	rb := make([]byte, n)
	_, _ = rand.Read(rb)
	id := strings.ToUpper(hex.EncodeToString(rb))
	if inbound {
		id = "3A" + id[2:]
	}
	if len(customer) > 255 {
		customer = customer[:255]
	}
	b := []byte{0x1C, 0x18, byte(len(customer))}
	b = append(b, customer...)
	b = append(b, 0x15, 0x02, 0x00, kind, 0x18, byte(len(id)))
	b = append(b, id...)
	b = append(b, 0x00)
	return "wamid." + base64.StdEncoding.EncodeToString(b)
}

// newMediaID returns a numeric id like Meta's media ids.
func newMediaID() string {
	return fmt.Sprintf("%d", 1_000_000_000_000_000+randUint64()%8_999_999_999_999_999)
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}
