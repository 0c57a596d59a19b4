// Command infra is the wacrm CDK app: `npx cdk synth` / `npx cdk deploy`
// (or `make synth` / `make deploy` at the repository root) run it.
//
// Context parameters (-c key=value or cdk.json): see propsFromContext and
// the README's deploy section.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// DefaultStackName is the stack's name unless context stackName says otherwise.
const DefaultStackName = "Wacrm"

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	name, props, err := propsFromContext(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err == nil {
		err = props.validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wacrm infra:", err)
		os.Exit(2)
	}
	stack := NewWacrmStack(app, name, props)
	AddNagChecks(stack)
	app.Synth(nil)
}

// propsFromContext reads the context parameters. Values given with -c are
// strings; values in cdk.json may be JSON booleans or lists. It does not
// validate them (WacrmStackProps.validate does).
func propsFromContext(get func(key string) any) (string, *WacrmStackProps, error) {
	str := func(key string) string {
		switch v := get(key).(type) {
		case nil:
			return ""
		case string:
			return strings.TrimSpace(v)
		default:
			return strings.TrimSpace(fmt.Sprint(v))
		}
	}
	list := func(key string) []string {
		if v, ok := get(key).([]any); ok {
			var out []string
			for _, e := range v {
				if s := strings.TrimSpace(fmt.Sprint(e)); s != "" {
					out = append(out, s)
				}
			}
			return out
		}
		var out []string
		for _, s := range strings.Split(str(key), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}

	name := str("stackName")
	if name == "" {
		name = DefaultStackName
	}
	prod := false
	if v := str("prod"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", nil, fmt.Errorf("context prod=%q: want true or false", v)
		}
		prod = b
	}
	dist := str("distDir")
	if dist == "" {
		dist = filepath.Join("..", "dist") // cdk runs the app from infra/
	}
	dist, err := filepath.Abs(dist)
	if err != nil {
		return "", nil, fmt.Errorf("context distDir: %w", err)
	}
	webhookConcurrency := 0
	if v := str("webhookConcurrency"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n == 0 {
			return "", nil, fmt.Errorf("context webhookConcurrency=%q: want a positive number, or -1 for none", v)
		}
		webhookConcurrency = n
	}
	props := &WacrmStackProps{
		StackProps: awscdk.StackProps{
			StackName:   jsii.String(name),
			Description: jsii.String("wacrm: WhatsApp Business messaging for a CRM (webhook, API, queues, table, bucket)"),
		},
		DistDir:         dist,
		Prod:            prod,
		JWTIssuer:       str("jwtIssuer"),
		JWTAudience:     list("jwtAudience"),
		OrgClaim:        str("orgClaim"),
		GroupsClaim:     str("groupsClaim"),
		RolesClaim:      str("rolesClaim"),
		MetaAppID:       str("metaAppId"),
		GraphAPIVersion: str("graphApiVersion"),
		CORSOrigins:     list("corsOrigins"),
		AlarmEmail:      str("alarmEmail"),
		LogLevel:        str("logLevel"),

		WebhookConcurrency: webhookConcurrency,
	}
	return name, props, nil
}
