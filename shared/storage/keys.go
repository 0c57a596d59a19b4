// Package storage keeps wacrm's objects in one table.Table: the single-table
// key design lives here, in one place, and serves every access pattern with
// a Get or a Query on a key or a sparse index, never a scan. The same code
// runs on DynamoDB and on the embedded bolt file, because both implement
// table.Table.
package storage

import (
	"fmt"
	"time"

	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/table"
)

// Items and their keys. <t> is a fixed-width UTC timestamp, so sort keys
// order by time.
//
//	integration        PK ORG#<org>                 SK INTEG#<id>
//	phone claim        PK PHONE#<phoneNumberId>     SK PHONE   (held while the integration is active)
//	connected WABA     PK ORG#<org>                 SK WABA#<wabaId>   (Embedded Signup)
//	user               PK ORG#<org>                 SK USER#<id>
//	counter            PK CTR#<name>                SK CTR
//	record             PK REC#<org>#<module>#<id>   SK REC
//	identity claim     PK IDENT#<org>#<identity>    SK IDENT
//	conversation       PK CONV#<org>#<id>           SK CONV
//	  by activity      GSI1 ORG#<org>#CONVS               <lastMessageAt>#<id>
//	  unanswered       GSI2 ORG#<org>#UNANSWERED          <unansweredSince>#<id>   (sparse)
//	  by owner         GSI3 ORG#<org>#OWNER#<user>        <lastMessageAt>#<id>
//	  by answerer      GSI4 ORG#<org>#ANSWEREDBY#<user>   <answeredAt>#<id>        (sparse)
//	message            PK MSGS#<org>#<conversation>  SK MSG#<t>#<id>
//	attachment         PK MSGS#<org>#<conversation>  SK ATT#<t>#<messageId>
//	wamid              PK WAMID#<org>#<wamid>        SK WAMID   (dedup claim / status routing)
//	saved view         PK VIEWS#<org>#<user>         SK VIEW#<id>
//	idempotency key    PK IDEM#<org>#<user>#<key>    SK IDEM
//	canned response    PK CANNED#<org>#<id>          SK CANNED
//	  by module, name  GSI1 ORG#<org>#CANNED#<module>     <name> #<id>
//	  by name          GSI2 ORG#<org>#CANNED              <name> #<id>
//	  name search      GSI3 ORG#<org>#CANNEDW#<module>    <name> #<id>
//	                   GSI4 ORG#<org>#CANNEDW             <name> #<id>
//	  word n>0 entry   PK CANNED#<org>#<id>          SK WORD#<nn>   (a copy; GSI3/GSI4 only)
//	    name search    GSI3 ORG#<org>#CANNEDW#<module>    <name from word n> #<id>
//	                   GSI4 ORG#<org>#CANNEDW             <name from word n> #<id>
//
// <name> is canned.SearchKey of the name (lowercase words); it never holds
// '#' or a character below '$', so " #" ends it and "ab" sorts before "ab c".
const timeKey = "2006-01-02T15:04:05.000000000Z"

func tkey(t time.Time) string { return t.UTC().Format(timeKey) }

func orgKey(org string) string { return "ORG#" + org }

func integrationKey(org, id string) table.Key {
	return table.Key{PK: orgKey(org), SK: "INTEG#" + id}
}

func phoneKey(phoneNumberID string) table.Key {
	return table.Key{PK: "PHONE#" + phoneNumberID, SK: "PHONE"}
}

func connectionKey(org, wabaID string) table.Key {
	return table.Key{PK: orgKey(org), SK: connectionPrefix + wabaID}
}

const connectionPrefix = "WABA#"

func userKey(org, id string) table.Key { return table.Key{PK: orgKey(org), SK: "USER#" + id} }

const userPrefix = "USER#"

func counterKey(name string) table.Key { return table.Key{PK: "CTR#" + name, SK: "CTR"} }

func recordKey(org string, module records.Module, id string) table.Key {
	return table.Key{PK: "REC#" + org + "#" + string(module) + "#" + id, SK: "REC"}
}

func identityKey(org string, id records.Identity) table.Key {
	return table.Key{PK: "IDENT#" + org + "#" + string(id), SK: "IDENT"}
}

func conversationKey(org, id string) table.Key {
	return table.Key{PK: "CONV#" + org + "#" + id, SK: "CONV"}
}

func conversationsByActivityPK(org string) string { return orgKey(org) + "#CONVS" }
func unansweredPK(org string) string              { return orgKey(org) + "#UNANSWERED" }
func byOwnerPK(org, user string) string           { return orgKey(org) + "#OWNER#" + user }
func byAnswererPK(org, user string) string        { return orgKey(org) + "#ANSWEREDBY#" + user }

func messagesPK(org, conversationID string) string { return "MSGS#" + org + "#" + conversationID }

func messageSK(t time.Time, id string) string { return "MSG#" + tkey(t) + "#" + id }

func attachmentSK(t time.Time, id string) string { return "ATT#" + tkey(t) + "#" + id }

func viewsPK(org, user string) string { return "VIEWS#" + org + "#" + user }

func viewKey(org, user, id string) table.Key {
	return table.Key{PK: viewsPK(org, user), SK: "VIEW#" + id}
}

// wamidKey is scoped by org: one org's messages and statuses can neither
// claim nor route another org's wamids.
func wamidKey(org, wamid string) table.Key {
	return table.Key{PK: "WAMID#" + org + "#" + wamid, SK: "WAMID"}
}

func idempotencyKey(org, user, key string) table.Key {
	return table.Key{PK: "IDEM#" + org + "#" + user + "#" + key, SK: "IDEM"}
}

func cannedKey(org, id string) table.Key {
	return table.Key{PK: "CANNED#" + org + "#" + id, SK: "CANNED"}
}

func cannedWordKey(org, id string, n int) table.Key {
	return table.Key{PK: "CANNED#" + org + "#" + id, SK: fmt.Sprintf("WORD#%02d", n)}
}

// Canned responses of one module, or of both, ordered by name; and their
// search entries, one per word start of the name.
func cannedPK(org string, m records.Module) string {
	if m == "" {
		return orgKey(org) + "#CANNED"
	}
	return orgKey(org) + "#CANNED#" + string(m)
}

func cannedSearchPK(org string, m records.Module) string {
	if m == "" {
		return orgKey(org) + "#CANNEDW"
	}
	return orgKey(org) + "#CANNEDW#" + string(m)
}

func cannedNameSK(nameKey, id string) string { return nameKey + " #" + id }

// How long claims that only guard against redelivery are kept. Meta retries
// for up to 7 days; DynamoDB's TTL deletes some time after expiry.
const (
	dedupTTL       = 10 * 24 * time.Hour
	pendingTTL     = 8 * 24 * time.Hour
	idempotencyTTL = 48 * time.Hour // documented to API clients (README, openapi.json)
)

// expiresIn is a TTL d from now by the wall clock, never the store's clock:
// both tables expire items by real time, so retention is physical time.
func expiresIn(d time.Duration) int64 { return time.Now().Add(d).Unix() }
