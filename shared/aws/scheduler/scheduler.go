// Package scheduler implements schedule.Scheduler on EventBridge Scheduler:
// each schedule is a one-time at(...) schedule (UTC, no flexible window) in
// the stack's schedule group, deleted by EventBridge after it ran
// (ActionAfterCompletion DELETE), with a retry policy and a dead-letter
// queue, whose target sends the firing (schedule.Firing as JSON) to the
// schedule SQS queue. The schedule function consumes that queue.
//
// EventBridge Scheduler has no local server; the adapter's tests check the
// exact requests the SDK sends to an httptest server. The embedded twin is
// local/timer.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/schedule"
)

// Config names the stack's parts a schedule uses.
type Config struct {
	Group         string // the stack's schedule group
	QueueARN      string // the schedule queue: every schedule's target
	RoleARN       string // the role EventBridge Scheduler assumes to send to the queue
	DeadLetterARN string // where EventBridge puts a firing it could not deliver
	// MaxRetries and MaxEventAge bound EventBridge's delivery retries.
	// Defaults: 185 attempts (EventBridge's maximum), 24 hours.
	MaxRetries  int32
	MaxEventAge time.Duration
}

// Scheduler is a schedule.Scheduler on EventBridge Scheduler.
type Scheduler struct {
	client *sdk.Client
	cfg    Config
	// now sends a schedule whose time has passed straight to the queue:
	// EventBridge refuses or never fires an at() in the past.
	now       queue.Sender
	clock     func() time.Time
	maxRetry  int32
	maxAgeSec int32
}

var _ schedule.Scheduler = (*Scheduler)(nil)

// New returns the scheduler. immediate is a sender to the schedule queue,
// for schedules set at a time already past.
func New(client *sdk.Client, cfg Config, immediate queue.Sender) *Scheduler {
	s := &Scheduler{client: client, cfg: cfg, now: immediate, clock: time.Now, maxRetry: 185, maxAgeSec: 86400}
	if cfg.MaxRetries > 0 {
		s.maxRetry = cfg.MaxRetries
	}
	if cfg.MaxEventAge > 0 {
		s.maxAgeSec = int32(cfg.MaxEventAge / time.Second)
	}
	return s
}

// WithClock sets the clock that decides whether a time has passed (tests).
func (s *Scheduler) WithClock(now func() time.Time) *Scheduler {
	s.clock = now
	return s
}

// Expression is the at() expression of a time, in UTC to the second.
func Expression(at time.Time) string {
	return "at(" + at.UTC().Format("2006-01-02T15:04:05") + ")"
}

// Set implements schedule.Scheduler: CreateSchedule, or UpdateSchedule
// (a full replacement) when the name exists. A time already past is
// delivered at once, and an earlier schedule of that name deleted.
func (s *Scheduler) Set(ctx context.Context, sc schedule.Schedule) error {
	body, err := sc.Check()
	if err != nil {
		return err
	}
	if !sc.At.Truncate(time.Second).After(s.clock()) {
		if err := s.now.Send(ctx, queue.Outgoing{Body: body}); err != nil {
			return fmt.Errorf("schedule %s is due: send now: %w", sc.Name, err)
		}
		return s.Delete(ctx, sc.Name)
	}
	target := &types.Target{
		Arn:     aws.String(s.cfg.QueueARN),
		RoleArn: aws.String(s.cfg.RoleARN),
		Input:   aws.String(string(body)),
		RetryPolicy: &types.RetryPolicy{
			MaximumRetryAttempts:     aws.Int32(s.maxRetry),
			MaximumEventAgeInSeconds: aws.Int32(s.maxAgeSec),
		},
		DeadLetterConfig: &types.DeadLetterConfig{Arn: aws.String(s.cfg.DeadLetterARN)},
	}
	window := &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}
	// Two rounds: a schedule that fires and is deleted between a refused
	// create and the update is created again.
	for range 2 {
		_, err = s.client.CreateSchedule(ctx, &sdk.CreateScheduleInput{
			Name: aws.String(sc.Name), GroupName: aws.String(s.cfg.Group),
			ScheduleExpression: aws.String(Expression(sc.At)), ScheduleExpressionTimezone: aws.String("UTC"),
			FlexibleTimeWindow: window, ActionAfterCompletion: types.ActionAfterCompletionDelete, Target: target,
		})
		var conflict *types.ConflictException
		if !errors.As(err, &conflict) {
			break
		}
		_, err = s.client.UpdateSchedule(ctx, &sdk.UpdateScheduleInput{ // it exists: move it
			Name: aws.String(sc.Name), GroupName: aws.String(s.cfg.Group),
			ScheduleExpression: aws.String(Expression(sc.At)), ScheduleExpressionTimezone: aws.String("UTC"),
			FlexibleTimeWindow: window, ActionAfterCompletion: types.ActionAfterCompletionDelete, Target: target,
		})
		var gone *types.ResourceNotFoundException
		if !errors.As(err, &gone) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("set schedule %s: %w", sc.Name, err)
	}
	return nil
}

// Delete implements schedule.Scheduler.
func (s *Scheduler) Delete(ctx context.Context, name string) error {
	if err := schedule.CheckName(name); err != nil {
		return err
	}
	_, err := s.client.DeleteSchedule(ctx, &sdk.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(s.cfg.Group)})
	var gone *types.ResourceNotFoundException
	if err != nil && !errors.As(err, &gone) {
		return fmt.Errorf("delete schedule %s: %w", name, err)
	}
	return nil
}
