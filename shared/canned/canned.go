package canned

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/records"
)

// Limits, in characters (runes).
const (
	MaxNameLength = 100
	// MaxTextLength is WhatsApp's limit on the body of a text message.
	MaxTextLength = 4096
)

// Response is a canned response: a named text for one CRM module whose merge
// fields are filled from the record of the conversation it answers.
type Response struct {
	Org       string         `json:"org"`
	ID        string         `json:"id"`
	Module    records.Module `json:"module"`
	Name      string         `json:"name"`
	Text      string         `json:"text"`
	CreatedBy string         `json:"createdBy"`
	UpdatedBy string         `json:"updatedBy,omitempty"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
}

// New returns a valid new response by user, or an apperr.Invalid error.
func New(org, user string, module records.Module, name, text string, now time.Time) (*Response, error) {
	r := &Response{
		Org: org, ID: ids.New("canned"), Module: module,
		Name: strings.TrimSpace(name), Text: text,
		CreatedBy: user, CreatedAt: now.UTC(), UpdatedAt: now.UTC(),
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// Validate checks the response's module, name and text. Every merge field in
// the text must belong to the response's module: a Leads response is only
// ever filled from a Lead.
func (r *Response) Validate() error {
	if r.Module != records.Leads && r.Module != records.Contacts {
		return apperr.E(apperr.Invalid, "module must be %s or %s.", records.Leads, records.Contacts)
	}
	if err := validateName(r.Name); err != nil {
		return err
	}
	return ValidateText(r.Text, r.Module)
}

func validateName(name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case !utf8.ValidString(name):
		return apperr.E(apperr.Invalid, "name must be valid UTF-8 text.")
	case strings.TrimSpace(name) == "":
		return apperr.E(apperr.Invalid, "name is required.")
	case n > MaxNameLength:
		return apperr.E(apperr.Invalid, "name has %d characters; at most %d are allowed.", n, MaxNameLength)
	case strings.ContainsFunc(name, unicode.IsControl):
		return apperr.E(apperr.Invalid, "name must be one line without control characters.")
	}
	return nil
}

// ValidateText checks a text that will be sent as a WhatsApp text message.
// With a module, it also checks that every merge field belongs to it.
func ValidateText(text string, module records.Module) error {
	n := utf8.RuneCountInString(text)
	switch {
	case !utf8.ValidString(text):
		return apperr.E(apperr.Invalid, "text must be valid UTF-8 text.")
	case strings.TrimSpace(text) == "":
		return apperr.E(apperr.Invalid, "text is required.")
	case n > MaxTextLength:
		return apperr.E(apperr.Invalid, "text has %d characters; WhatsApp allows at most %d.", n, MaxTextLength)
	}
	if module == "" {
		return nil
	}
	if foreign := ForeignFields(text, module); len(foreign) > 0 {
		return apperr.E(apperr.Invalid, "A %s response can only use %s merge fields; these are not: %s.",
			module, module, strings.Join(foreign, ", "))
	}
	return nil
}

// ForeignFields lists, by token, the merge fields of text that do not belong
// to module (another module, or one that does not exist).
func ForeignFields(text string, module records.Module) []string {
	var out []string
	for _, f := range Fields(text) {
		if f.Module != module {
			out = append(out, f.Token)
		}
	}
	return out
}

// CheckModuleUnchanged returns an apperr.ModuleImmutable error unless to is
// the response's module: its merge fields belong to the module it was made
// for, so moving it would break them.
func (r *Response) CheckModuleUnchanged(to records.Module) error {
	if to != r.Module {
		return apperr.E(apperr.ModuleImmutable,
			"A canned response's module cannot change (this one is for %s, not %s); create a new %s response instead.", r.Module, to, to)
	}
	return nil
}

// Patch is an edit of a response; nil fields are left as they are. Module
// may only repeat the current module, so clients can send a whole object.
type Patch struct {
	Name   *string
	Text   *string
	Module *records.Module
}

// Empty reports whether the patch changes nothing that can change.
func (p Patch) Empty() bool { return p.Name == nil && p.Text == nil }

// Apply edits r by user at now, and validates the result.
func (r *Response) Apply(p Patch, user string, now time.Time) error {
	if p.Module != nil {
		if err := r.CheckModuleUnchanged(*p.Module); err != nil {
			return err
		}
	}
	if p.Name != nil {
		r.Name = strings.TrimSpace(*p.Name)
	}
	if p.Text != nil {
		r.Text = *p.Text
	}
	if err := r.Validate(); err != nil {
		return err
	}
	r.UpdatedBy, r.UpdatedAt = user, now.UTC()
	return nil
}

// Filter selects responses of an org.
type Filter struct {
	Module records.Module // "" = both modules
	Search string         // matches the start of the name or of any word in it, ignoring case
	Cursor string
	Limit  int
}
