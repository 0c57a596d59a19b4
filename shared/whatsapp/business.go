package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// The Graph calls that connect a business's number: Embedded Signup's code
// exchange, the WhatsApp Business Account's phone numbers, one number, and
// the app's webhook subscription to the account.

// PhoneNumber is a business phone number as the Graph API describes it.
type PhoneNumber struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	VerifiedName       string `json:"verified_name"`
	// CodeVerificationStatus is VERIFIED once the business proved it
	// holds the number (NOT_VERIFIED, EXPIRED otherwise).
	CodeVerificationStatus string `json:"code_verification_status"`
	QualityRating          string `json:"quality_rating"` // GREEN, YELLOW, RED, UNKNOWN
}

// CodeVerified is the CodeVerificationStatus of a number whose ownership
// Meta has verified.
const CodeVerified = "VERIFIED"

// PhoneNumberFields are the fields asked of GET /{waba-id}/phone_numbers
// and GET /{phone-number-id}.
const PhoneNumberFields = "id,display_phone_number,verified_name,code_verification_status,quality_rating"

// maxPhoneNumberPages bounds PhoneNumbers: a WABA holds a few numbers, at
// most a few dozen.
const maxPhoneNumberPages = 20

// ExchangeCode trades the code Embedded Signup hands the frontend for a
// business integration system user access token ("business token"):
// GET /oauth/access_token?client_id&client_secret&code, server to server.
func (c *GraphClient) ExchangeCode(ctx context.Context, appID, appSecret, code string) (string, error) {
	q := url.Values{"client_id": {appID}, "client_secret": {appSecret}, "code": {code}}
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.do(ctx, http.MethodGet, c.url("oauth", "access_token")+"?"+q.Encode(), "", "", nil, &resp); err != nil {
		return "", fmt.Errorf("exchange signup code: %w", err)
	}
	if resp.AccessToken == "" {
		return "", errors.New("exchange signup code: response has no access_token")
	}
	return resp.AccessToken, nil
}

// PhoneNumbers lists the phone numbers of a WhatsApp Business Account,
// following the pages Meta returns.
func (c *GraphClient) PhoneNumbers(ctx context.Context, wabaID, accessToken string) ([]PhoneNumber, error) {
	var out []PhoneNumber
	after := ""
	for range maxPhoneNumberPages {
		q := url.Values{"fields": {PhoneNumberFields}}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Data   []PhoneNumber `json:"data"`
			Paging struct {
				Cursors struct {
					After string `json:"after"`
				} `json:"cursors"`
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := c.do(ctx, http.MethodGet, c.url(wabaID, "phone_numbers")+"?"+q.Encode(), accessToken, "", nil, &page); err != nil {
			return nil, fmt.Errorf("phone numbers of WABA %s: %w", wabaID, err)
		}
		out = append(out, page.Data...)
		if page.Paging.Next == "" || page.Paging.Cursors.After == "" {
			return out, nil
		}
		after = page.Paging.Cursors.After
	}
	return nil, fmt.Errorf("phone numbers of WABA %s: more than %d pages", wabaID, maxPhoneNumberPages)
}

// PhoneNumber reads one phone number: it succeeds only if the token may
// read it.
func (c *GraphClient) PhoneNumber(ctx context.Context, phoneNumberID, accessToken string) (PhoneNumber, error) {
	var n PhoneNumber
	q := url.Values{"fields": {PhoneNumberFields}}
	if err := c.do(ctx, http.MethodGet, c.url(phoneNumberID)+"?"+q.Encode(), accessToken, "", nil, &n); err != nil {
		return n, fmt.Errorf("phone number %s: %w", phoneNumberID, err)
	}
	if n.ID != phoneNumberID {
		return n, fmt.Errorf("phone number %s: response is about %q", phoneNumberID, n.ID)
	}
	return n, nil
}

// SubscribeApp subscribes the app that owns the token to the webhooks of a
// WhatsApp Business Account (POST /{waba-id}/subscribed_apps); repeating it
// changes nothing.
func (c *GraphClient) SubscribeApp(ctx context.Context, wabaID, accessToken string) error {
	var resp struct {
		Success bool `json:"success"`
	}
	if err := c.do(ctx, http.MethodPost, c.url(wabaID, "subscribed_apps"), accessToken, "", nil, &resp); err != nil {
		return fmt.Errorf("subscribe app to WABA %s: %w", wabaID, err)
	}
	if !resp.Success {
		return fmt.Errorf("subscribe app to WABA %s: success false", wabaID)
	}
	return nil
}
