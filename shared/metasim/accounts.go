package metasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wacrm/wacrm/shared/whatsapp"
)

// The business side of Meta: WhatsApp Business Accounts (WABAs) with their
// phone numbers, who may read and send from them, Embedded Signup's codes
// and their exchange for a business token, and the app's webhook
// subscriptions. What the simulator learns (customers, issued tokens,
// subscriptions) is kept in Config.StateFile across restarts.

// DefaultAppID is the Meta app id the code exchange accepts when Config.AppID is empty.
const DefaultAppID = "1000000000000001"

// WABA is a WhatsApp Business Account the simulator hosts.
type WABA struct {
	ID      string
	Name    string
	Numbers []Number
	// AccessTokens may read and send from every number of the account (a
	// system user token with whatsapp_business_management and _messaging).
	AccessTokens []string
}

// grant is what one access token may touch.
type grant struct {
	wabas   map[string]bool // every number of these accounts
	numbers map[string]bool // these numbers, and reading their account's number list
}

func (g *grant) number(n *Number) bool {
	return g != nil && n != nil && (g.numbers[n.PhoneNumberID] || g.wabas[n.WABAID])
}

func (g *grant) waba(id string, s *Sim) bool {
	if g == nil {
		return false
	}
	if g.wabas[id] {
		return true
	}
	for pnid := range g.numbers {
		if n := s.numbers[pnid]; n != nil && n.WABAID == id {
			return true
		}
	}
	return false
}

func (s *Sim) addGrant(token string, wabaID, phoneNumberID string) {
	g := s.tokens[token]
	if g == nil {
		g = &grant{wabas: map[string]bool{}, numbers: map[string]bool{}}
		s.tokens[token] = g
	}
	if wabaID != "" {
		g.wabas[wabaID] = true
	}
	if phoneNumberID != "" {
		g.numbers[phoneNumberID] = true
	}
}

// grantOf returns what the request's bearer token may touch, nil for none.
func (s *Sim) grantOf(r *http.Request) *grant {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[strings.TrimSpace(token)]
}

func badToken(w http.ResponseWriter) {
	graphErr(w, http.StatusUnauthorized, whatsapp.ErrCodeAccessToken, 0, "OAuthException", "Invalid OAuth access token - Cannot parse access token", "")
}

func (s *Sim) setupAccounts(cfg Config) {
	if s.cfg.AppID == "" {
		s.cfg.AppID = DefaultAppID
	}
	wabas := slices.Clone(cfg.WABAs)
	for _, n := range cfg.Numbers { // numbers configured alone belong to the WABA they name
		if n.WABAID == "" {
			n.WABAID = DefaultWABAID
		}
		i := slices.IndexFunc(wabas, func(w WABA) bool { return w.ID == n.WABAID })
		if i < 0 {
			wabas = append(wabas, WABA{ID: n.WABAID})
			i = len(wabas) - 1
		}
		wabas[i].Numbers = append(wabas[i].Numbers, n)
	}
	for _, w := range wabas {
		if w.Name == "" {
			w.Name = "Business " + last4(w.ID)
		}
		ww := w
		ww.Numbers = nil
		for _, n := range w.Numbers {
			n.WABAID = w.ID
			if n.DisplayPhoneNumber == "" {
				n.DisplayPhoneNumber = DefaultDisplayPhoneNumber
			}
			if n.VerifiedName == "" {
				n.VerifiedName = w.Name
			}
			if n.CodeVerificationStatus == "" {
				n.CodeVerificationStatus = whatsapp.CodeVerified
			}
			if n.QualityRating == "" {
				n.QualityRating = "GREEN"
			}
			s.numbers[n.PhoneNumberID] = &n
			s.order = append(s.order, n.PhoneNumberID)
			for _, t := range n.AccessTokens {
				s.addGrant(t, "", n.PhoneNumberID)
			}
			ww.Numbers = append(ww.Numbers, n)
		}
		for _, t := range w.AccessTokens {
			s.addGrant(t, w.ID, "")
		}
		s.wabas[w.ID] = &ww
	}
}

// WABAs returns the accounts the simulator hosts, with their numbers.
func (s *Sim) WABAs() []WABA {
	var out []WABA
	for _, pnid := range s.order {
		wid := s.numbers[pnid].WABAID
		if !slices.ContainsFunc(out, func(w WABA) bool { return w.ID == wid }) {
			out = append(out, *s.wabas[wid])
		}
	}
	return out
}

// Numbers returns every business number the simulator hosts, in
// configuration order.
func (s *Sim) Numbers() []Number {
	out := make([]Number, 0, len(s.order))
	for _, pnid := range s.order {
		out = append(out, *s.numbers[pnid])
	}
	return out
}

// signupCodeTTL is how long an Embedded Signup code can be exchanged.
const signupCodeTTL = 10 * time.Minute

type signupCode struct {
	WABAID  string    `json:"wabaId"`
	Expires time.Time `json:"expires"`
}

// Signup plays a business completing Embedded Signup for wabaID: it returns
// the code Meta hands the frontend, exchangeable once, within 10 minutes,
// for a business token that may manage the account.
func (s *Sim) Signup(wabaID string) (string, error) {
	if s.wabas[wabaID] == nil {
		return "", fmt.Errorf("no WhatsApp Business Account %q in the simulator", wabaID)
	}
	code := "sim-code-" + strconv.FormatUint(randUint64(), 36)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = signupCode{WABAID: wabaID, Expires: s.now().Add(signupCodeTTL)}
	s.saveLocked()
	return code, nil
}

// Subscribed reports whether the app subscribed to the account's webhooks.
func (s *Sim) Subscribed(wabaID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscribed[wabaID]
}

// handleAccessToken is GET /{version}/oauth/access_token: the code exchange.
func (s *Sim) handleAccessToken(w http.ResponseWriter, r *http.Request) {
	if !versionRE.MatchString(r.PathValue("version")) {
		graphErr(w, http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /"+r.PathValue("version"), "")
		return
	}
	q := r.URL.Query()
	if q.Get("client_id") != s.cfg.AppID {
		graphErr(w, http.StatusBadRequest, 101, 0, "OAuthException", "Error validating application. Invalid application ID.", "")
		return
	}
	if q.Get("client_secret") != s.cfg.AppSecret || s.cfg.AppSecret == "" {
		graphErr(w, http.StatusBadRequest, whatsapp.ErrCodeInvalidParameter, 0, "OAuthException", "Error validating client secret.", "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[q.Get("code")]
	if !ok || s.now().After(c.Expires) {
		graphErr(w, http.StatusBadRequest, whatsapp.ErrCodeInvalidParameter, 36007, "OAuthException", "Invalid verification code format, or the code has expired or been used.", "")
		return
	}
	delete(s.codes, q.Get("code")) // a code is good for one exchange
	token := "sim-business-token-" + strconv.FormatUint(randUint64(), 36)
	s.addGrant(token, c.WABAID, "")
	s.issued[token] = []string{c.WABAID}
	s.saveLocked()
	writeJSON(w, http.StatusOK, map[string]string{"access_token": token, "token_type": "bearer"})
}

// phoneNumberJSON is a number as GET /{phone-number-id} and the account's
// list describe it.
func phoneNumberJSON(n *Number) map[string]string {
	return map[string]string{
		"id": n.PhoneNumberID, "display_phone_number": n.DisplayPhoneNumber, "verified_name": n.VerifiedName,
		"code_verification_status": n.CodeVerificationStatus, "quality_rating": n.QualityRating,
	}
}

// handleEdge is GET /{version}/{id}/{edge}: of the edges, only a WABA's
// phone_numbers is simulated.
func (s *Sim) handleEdge(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("edge") != "phone_numbers" {
		graphErr(w, http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /"+r.PathValue("edge"), "")
		return
	}
	s.handlePhoneNumbers(w, r)
}

// handlePhoneNumbers is GET /{version}/{waba-id}/phone_numbers, paged by
// Config.PageSize with Meta's cursors.
func (s *Sim) handlePhoneNumbers(w http.ResponseWriter, r *http.Request) {
	if !versionRE.MatchString(r.PathValue("version")) {
		graphErr(w, http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /"+r.PathValue("version"), "")
		return
	}
	g := s.grantOf(r)
	if g == nil {
		badToken(w)
		return
	}
	wabaID := r.PathValue("id")
	wb := s.wabas[wabaID]
	if wb == nil || !g.waba(wabaID, s) {
		noSuchObject(w, wabaID)
		return
	}
	start := 0
	if after := r.URL.Query().Get("after"); after != "" {
		start = slices.IndexFunc(wb.Numbers, func(n Number) bool { return n.PhoneNumberID == after }) + 1
		if start == 0 {
			invalidParam(w, "The after cursor is not valid.")
			return
		}
	}
	end := min(start+s.cfg.PageSize, len(wb.Numbers))
	data := []map[string]string{}
	for i := start; i < end; i++ {
		data = append(data, phoneNumberJSON(&wb.Numbers[i]))
	}
	paging := map[string]any{}
	if end > start {
		paging["cursors"] = map[string]string{"before": wb.Numbers[start].PhoneNumberID, "after": wb.Numbers[end-1].PhoneNumberID}
	}
	if end < len(wb.Numbers) {
		paging["next"] = fmt.Sprintf("https://graph.facebook.com/%s/%s/phone_numbers?after=%s", r.PathValue("version"), wabaID, wb.Numbers[end-1].PhoneNumberID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "paging": paging})
}

// handleSubscribedApps is POST /{version}/{waba-id}/subscribed_apps.
func (s *Sim) handleSubscribedApps(w http.ResponseWriter, r *http.Request) {
	if !versionRE.MatchString(r.PathValue("version")) {
		graphErr(w, http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /"+r.PathValue("version"), "")
		return
	}
	g := s.grantOf(r)
	if g == nil {
		badToken(w)
		return
	}
	wabaID := r.PathValue("wabaID")
	if s.wabas[wabaID] == nil || !g.waba(wabaID, s) {
		noSuchObject(w, wabaID)
		return
	}
	s.mu.Lock()
	s.subscribed[wabaID] = true
	s.saveLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// handleObject is GET /{version}/{id}: a phone number, or media.
func (s *Sim) handleObject(w http.ResponseWriter, r *http.Request) {
	n := s.numbers[r.PathValue("id")]
	if n == nil {
		s.handleMediaInfo(w, r)
		return
	}
	if !versionRE.MatchString(r.PathValue("version")) {
		graphErr(w, http.StatusBadRequest, 2500, 0, "OAuthException", "Unknown path components: /"+r.PathValue("version"), "")
		return
	}
	g := s.grantOf(r)
	if g == nil {
		badToken(w)
		return
	}
	if !g.number(n) {
		noSuchObject(w, n.PhoneNumberID)
		return
	}
	writeJSON(w, http.StatusOK, phoneNumberJSON(n))
}

func (s *Sim) handleSimSignup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		WABAID string `json:"wabaId"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12)).Decode(&req); err != nil || req.WABAID == "" {
		http.Error(w, `want {"wabaId": ...}`, http.StatusBadRequest)
		return
	}
	code, err := s.Signup(req.WABAID)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	var pnids []string
	for _, n := range s.wabas[req.WABAID].Numbers {
		pnids = append(pnids, n.PhoneNumberID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": code, "wabaId": req.WABAID, "phoneNumberIds": pnids})
}

func (s *Sim) handleSimNumbers(w http.ResponseWriter, _ *http.Request) {
	type number struct {
		PhoneNumberID, DisplayPhoneNumber, VerifiedName, CodeVerificationStatus string
	}
	type waba struct {
		ID, Name string
		Numbers  []number
	}
	out := []waba{}
	for _, wb := range s.WABAs() {
		ww := waba{ID: wb.ID, Name: wb.Name}
		for _, n := range wb.Numbers {
			ww.Numbers = append(ww.Numbers, number{n.PhoneNumberID, n.DisplayPhoneNumber, n.VerifiedName, n.CodeVerificationStatus})
		}
		out = append(out, ww)
	}
	writeJSON(w, http.StatusOK, map[string]any{"wabas": out})
}

// --- state kept across restarts ---

type savedCustomer struct {
	WaID        string               `json:"waId,omitempty"`
	UserID      string               `json:"userId,omitempty"`
	Name        string               `json:"name,omitempty"`
	Username    string               `json:"username,omitempty"`
	LastInbound map[string]time.Time `json:"lastInbound,omitempty"`
}

type savedState struct {
	Customers  []savedCustomer       `json:"customers"`
	Tokens     map[string][]string   `json:"tokens"` // issued business token -> WABA ids
	Codes      map[string]signupCode `json:"codes"`
	Subscribed []string              `json:"subscribed"`
}

// load reads the state file, if any.
func (s *Sim) load() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(s.cfg.StateFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read simulator state: %w", err)
	}
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("parse simulator state %s: %w", s.cfg.StateFile, err)
	}
	for _, sc := range st.Customers {
		c := &customer{waID: sc.WaID, userID: sc.UserID, name: sc.Name, username: sc.Username, lastInbound: sc.LastInbound}
		if c.lastInbound == nil {
			c.lastInbound = map[string]time.Time{}
		}
		if c.waID != "" {
			s.byWaID[c.waID] = c
		}
		if c.userID != "" {
			s.byUserID[c.userID] = c
		}
	}
	for tok, wabas := range st.Tokens {
		for _, wid := range wabas {
			s.addGrant(tok, wid, "")
		}
		s.issued[tok] = wabas
	}
	for code, c := range st.Codes {
		s.codes[code] = c
	}
	for _, wid := range st.Subscribed {
		s.subscribed[wid] = true
	}
	return nil
}

// saveLocked writes the state file (s.mu held). A failure is logged: the
// simulator goes on with what it has in memory.
func (s *Sim) saveLocked() {
	if s.cfg.StateFile == "" {
		return
	}
	st := savedState{Tokens: s.issued, Codes: s.codes}
	seen := map[*customer]bool{}
	for _, m := range []map[string]*customer{s.byWaID, s.byUserID} {
		for _, c := range m {
			if !seen[c] {
				seen[c] = true
				st.Customers = append(st.Customers, savedCustomer{WaID: c.waID, UserID: c.userID, Name: c.name, Username: c.username, LastInbound: c.lastInbound})
			}
		}
	}
	slices.SortFunc(st.Customers, func(a, b savedCustomer) int { return strings.Compare(a.WaID+a.UserID, b.WaID+b.UserID) })
	for wid := range s.subscribed {
		st.Subscribed = append(st.Subscribed, wid)
	}
	slices.Sort(st.Subscribed)
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		tmp := s.cfg.StateFile + ".tmp"
		if err = os.MkdirAll(filepath.Dir(s.cfg.StateFile), 0o700); err == nil {
			if err = os.WriteFile(tmp, b, 0o600); err == nil {
				err = os.Rename(tmp, s.cfg.StateFile)
			}
		}
	}
	if err != nil {
		s.log.Warn("metasim: state not saved", "file", s.cfg.StateFile, "err", err)
	}
}
