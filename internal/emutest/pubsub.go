package emutest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// PubSubHost returns the Pub/Sub emulator's host, failing or skipping the
// test when it does not answer.
func PubSubHost(tb testing.TB) string {
	tb.Helper()
	host, err := resolve("PUBSUB_EMULATOR_HOST", DefaultPubSubHost, pubsubProbe)
	if err != nil {
		Unavailable(tb, "Pub/Sub", host, err.Error())
	}
	return host
}

// pubsubProbe checks that host is a Pub/Sub emulator. Its root says "Ok"
// like the Firestore emulator's, so the topic listing, which only Pub/Sub
// serves, tells them apart.
func pubsubProbe(host string) error {
	if err := httpProbe(host, "/", "Ok"); err != nil {
		return err
	}
	if _, err := listNames(host, "demo-probe", "topics"); err != nil {
		return fmt.Errorf("not a Pub/Sub emulator: %v", err)
	}
	return nil
}

// PubSub is one test's isolated project on the Pub/Sub emulator.
type PubSub struct {
	Host      string
	ProjectID string
}

// NewPubSubProject gives the test its own project on the Pub/Sub emulator.
// Its subscriptions and topics are deleted when the test ends. Clients
// created with cloud.google.com/go/pubsub find the emulator through
// PUBSUB_EMULATOR_HOST, which [PubSubHost] sets when it was unset.
func NewPubSubProject(tb testing.TB) *PubSub {
	tb.Helper()
	p := &PubSub{Host: PubSubHost(tb), ProjectID: ProjectID(tb)}
	tb.Cleanup(func() {
		if err := ResetPubSub(p.Host, p.ProjectID); err != nil {
			tb.Logf("reset pubsub project %s: %v", p.ProjectID, err)
		}
	})
	return p
}

// Topic returns the full name of topic id in the test's project.
func (p *PubSub) Topic(id string) string {
	return "projects/" + p.ProjectID + "/topics/" + id
}

// Subscription returns the full name of subscription id in the test's
// project.
func (p *PubSub) Subscription(id string) string {
	return "projects/" + p.ProjectID + "/subscriptions/" + id
}

// ResetPubSub deletes every subscription, then every topic, of one project.
// The emulator has no reset endpoint, so this goes through its REST API.
func ResetPubSub(host, project string) error {
	for _, kind := range []string{"subscriptions", "topics"} {
		names, err := listNames(host, project, kind)
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := doDelete("http://" + host + "/v1/" + name); err != nil {
				return err
			}
		}
	}
	return nil
}

// listNames lists the full names of a project's topics or subscriptions.
func listNames(host, project, kind string) ([]string, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	var names []string
	token := ""
	for {
		u := fmt.Sprintf("http://%s/v1/projects/%s/%s?pageSize=1000", host, project, kind)
		if token != "" {
			u += "&pageToken=" + url.QueryEscape(token)
		}
		resp, err := c.Get(u)
		if err != nil {
			return nil, err
		}
		var page struct {
			Topics        []struct{ Name string } `json:"topics"`
			Subscriptions []struct{ Name string } `json:"subscriptions"`
			NextPageToken string                  `json:"nextPageToken"`
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("GET %s: %v", u, err)
		}
		for _, t := range page.Topics {
			names = append(names, t.Name)
		}
		for _, s := range page.Subscriptions {
			names = append(names, s.Name)
		}
		if page.NextPageToken == "" {
			return names, nil
		}
		token = page.NextPageToken
	}
}
