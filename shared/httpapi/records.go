package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/users"
)

// RecordWriter changes Leads and Contacts. UpdateRecord keeps the record's
// conversations' owner in step with the record, in the same transaction.
type RecordWriter interface {
	UpdateRecord(ctx context.Context, org string, module records.Module, id string, fn func(*records.Record) error) (*records.Record, error)
}

// UserDirectory lists the org's users (seen in tokens or added by an admin).
type UserDirectory interface {
	Users(ctx context.Context, org, cursor string, limit int) ([]users.User, string, error)
	// UnassignableUsers returns those of ids that cannot be given a record:
	// unknown, removed or disabled.
	UnassignableUsers(ctx context.Context, org string, ids []string) ([]string, error)
}

// Limits on what a record may hold.
const (
	maxRecordBody     = 64 << 10
	maxRecordText     = 200  // runes, for names, company, title
	maxFieldValue     = 1000 // runes
	maxFieldNameRunes = 64   // merge fields name at most 64 characters
	maxRecordFields   = 50
)

func moduleParam(r *http.Request) (records.Module, error) {
	m, err := records.ParseModule(r.PathValue("module"))
	if err != nil {
		return "", apperr.Wrap(err, apperr.Invalid, "Unknown module %q: use Leads or Contacts.", r.PathValue("module"))
	}
	return m, nil
}

func (a *API) getRecord(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	m, err := moduleParam(r)
	if err != nil {
		return err
	}
	rec, err := a.Records.Record(r.Context(), p.Org, m, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// recordPatch is the body of PATCH /v1/records/{module}/{id}: absent fields
// stay as they are; "" clears a text field; in fields, "" or null removes
// one. Read-only fields are named so the refusal can say why.
type recordPatch struct {
	FirstName *string            `json:"firstName"`
	LastName  *string            `json:"lastName"`
	Email     *string            `json:"email"`
	Phone     *string            `json:"phone"`
	Company   *string            `json:"company"`
	Title     *string            `json:"title"`
	Fields    map[string]*string `json:"fields"`
	OwnerID   *string            `json:"ownerId"`

	ID        json.RawMessage `json:"id"`
	Org       json.RawMessage `json:"org"`
	Module    json.RawMessage `json:"module"`
	WaID      json.RawMessage `json:"waId"`
	WaUserID  json.RawMessage `json:"waUserId"`
	CreatedAt json.RawMessage `json:"createdAt"`
	UpdatedAt json.RawMessage `json:"updatedAt"`
}

// clean validates and normalises the patch.
func (b *recordPatch) clean() error {
	for name, v := range map[string]json.RawMessage{
		"id": b.ID, "org": b.Org, "module": b.Module, "waId": b.WaID, "waUserId": b.WaUserID,
		"createdAt": b.CreatedAt, "updatedAt": b.UpdatedAt,
	} {
		if v != nil {
			return apperr.E(apperr.Invalid, "%s is read-only; send only the fields to change: firstName, lastName, email, phone, company, title, fields, ownerId.", name)
		}
	}
	for name, f := range map[string]*string{
		"firstName": b.FirstName, "lastName": b.LastName, "company": b.Company, "title": b.Title,
	} {
		if f == nil {
			continue
		}
		*f = strings.TrimSpace(*f)
		if err := plainText(name, *f, maxRecordText, false); err != nil {
			return err
		}
	}
	if b.Email != nil {
		*b.Email = strings.TrimSpace(*b.Email)
		if e := *b.Email; e != "" {
			addr, err := mail.ParseAddress(e)
			if err != nil || addr.Address != e || len(e) > 254 {
				return apperr.E(apperr.Invalid, "email must be an address such as ana@example.com.")
			}
		}
	}
	if b.Phone != nil {
		*b.Phone = strings.TrimSpace(*b.Phone)
		if err := phoneNumber(*b.Phone); err != nil {
			return err
		}
	}
	if len(b.Fields) > maxRecordFields {
		return apperr.E(apperr.Invalid, "A record holds at most %d fields.", maxRecordFields)
	}
	for name, v := range b.Fields {
		trimmed := strings.TrimSpace(name)
		if n := utf8.RuneCountInString(trimmed); n == 0 || n > maxFieldNameRunes || strings.ContainsAny(trimmed, "]\r\n") {
			return apperr.E(apperr.Invalid, "Field name %q must be 1 to %d characters without ']' or line breaks, so merge fields can name it.", name, maxFieldNameRunes)
		}
		if v != nil {
			*v = strings.TrimSpace(*v)
			if err := plainText("fields."+trimmed, *v, maxFieldValue, true); err != nil {
				return err
			}
		}
	}
	if b.OwnerID != nil {
		*b.OwnerID = strings.TrimSpace(*b.OwnerID)
		if *b.OwnerID == "" {
			return apperr.E(apperr.Invalid, "ownerId must name a user: a record always has an owner.")
		}
		if err := checkID("ownerId", *b.OwnerID); err != nil {
			return err
		}
	}
	return nil
}

// apply writes the patch into rec.
func (b *recordPatch) apply(rec *records.Record) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&rec.FirstName, b.FirstName)
	set(&rec.LastName, b.LastName)
	set(&rec.Email, b.Email)
	set(&rec.Phone, b.Phone)
	set(&rec.Company, b.Company)
	set(&rec.Title, b.Title)
	set(&rec.OwnerID, b.OwnerID)
	names := make([]string, 0, len(b.Fields))
	for name := range b.Fields {
		names = append(names, name)
	}
	sort.Strings(names) // a deterministic result when two names differ only in spaces
	for _, name := range names {
		v, key := b.Fields[name], strings.TrimSpace(name)
		for k := range rec.Fields { // one field per name, whatever its case
			if k != key && strings.EqualFold(k, key) {
				delete(rec.Fields, k)
			}
		}
		if v == nil || *v == "" {
			delete(rec.Fields, key)
			continue
		}
		if rec.Fields == nil {
			rec.Fields = map[string]string{}
		}
		rec.Fields[key] = *v
	}
}

// updateRecord is PATCH /v1/records/{module}/{id}. Any user of the org may
// edit a record; giving it to another owner is for its current owner or an
// admin, because the owner decides whose Messages tab and notifications
// the customer's conversations land in.
func (a *API) updateRecord(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	m, err := moduleParam(r)
	if err != nil {
		return err
	}
	var body recordPatch
	if err := decodeJSON(w, r, maxRecordBody, &body); err != nil {
		return err
	}
	if err := body.clean(); err != nil {
		return err
	}
	if body.OwnerID != nil {
		unknown, err := a.Directory.UnassignableUsers(r.Context(), p.Org, []string{*body.OwnerID})
		if err != nil {
			return err
		}
		if len(unknown) > 0 {
			return apperr.E(apperr.Invalid, "ownerId %q is not an active user of your organisation (users appear once they have signed in or an admin adds them; disabled users get no new records).", *body.OwnerID)
		}
	}
	rec, err := a.RecordWriter.UpdateRecord(r.Context(), p.Org, m, r.PathValue("id"), func(rec *records.Record) error {
		if body.OwnerID != nil && *body.OwnerID != rec.OwnerID && rec.OwnerID != "" && rec.OwnerID != p.UserID && !p.IsAdmin() {
			return apperr.E(apperr.Forbidden, "Only the record's owner or an admin can give it to another owner.")
		}
		body.apply(rec)
		if len(rec.Fields) > maxRecordFields {
			return apperr.E(apperr.Invalid, "A record holds at most %d fields.", maxRecordFields)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// listUsers is GET /v1/users: the org's users, for owner pickers.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit, err := limitParam(r, 100, 200)
	if err != nil {
		return err
	}
	list, cursor, err := a.Directory.Users(r.Context(), p.Org, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(list, cursor))
	return nil
}

func plainText(field, s string, maxRunes int, multiline bool) error {
	if utf8.RuneCountInString(s) > maxRunes || !utf8.ValidString(s) {
		return apperr.E(apperr.Invalid, "%s is longer than %d characters.", field, maxRunes)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) }) {
		return apperr.E(apperr.Invalid, "%s must not hold control characters.", field)
	}
	return nil
}

// phoneNumber accepts "" (clear) or a number written the usual ways.
func phoneNumber(s string) error {
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune("+ -().", r):
		default:
			digits = -1000
		}
	}
	if s != "" && (digits < 5 || digits > 20 || len(s) > 32) {
		return apperr.E(apperr.Invalid, "phone must be a phone number such as +44 20 7946 0958.")
	}
	return nil
}
