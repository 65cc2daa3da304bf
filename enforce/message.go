package enforce

import (
	"net/http"
	"strconv"

	"github.com/patgate/patgate/tokenclass"
)

// DocumentationURL is where GitHub documents the policies; denials point
// there as GitHub's own errors do.
const DocumentationURL = "https://docs.github.com/enterprise-server@latest/admin/policies/enforcing-policies-for-your-enterprise/enforcing-policies-for-personal-access-tokens-in-your-enterprise"

// HTTPStatus is the status code a decision is answered with.
func (d Decision) HTTPStatus() int {
	switch d.Outcome {
	case Deny:
		return http.StatusForbidden
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

// Message is the text a refused user reads, in GitHub's words where GitHub
// has them. It is built only when needed, so allowed requests never pay for
// it.
func (d Decision) Message() string {
	who := "This enterprise"
	if d.Subject != "" {
		who = "`" + d.Subject + "`"
	}
	const (
		classicTail = "Please use a GitHub App, OAuth App, or a personal access token with fine-grained permissions."
		fineTail    = "Please use a GitHub App, or an OAuth App."
		unapproved  = " forbids access via a personal access token with fine-grained permissions that it has not approved. "
	)
	switch d.Reason {
	case ReasonClassicRestricted:
		return who + " forbids access via a personal access token (classic). " + classicTail
	case ReasonFineGrainedRestricted, ReasonFineGrainedNotOptedIn:
		return who + " forbids access via a personal access token with fine-grained permissions. " + fineTail
	case ReasonApprovalPending:
		return who + unapproved + "This token's request for approval is pending."
	case ReasonApprovalDenied:
		return who + unapproved + "This token's request for approval was denied."
	case ReasonApprovalRevoked:
		return who + unapproved + "This token's approval was revoked."
	case ReasonApprovalMissing:
		return who + unapproved + "This token has not requested approval."
	case ReasonUndetermined:
		what := "the resources this request reaches could not be determined"
		if d.Detail != "" {
			what = "this request names what the gateway cannot resolve (" + d.Detail + ")"
		}
		if d.Class == tokenclass.Classic {
			return who + " restricts access via a personal access token (classic), and " + what + ". " + classicTail
		}
		return who + " restricts access via a personal access token with fine-grained permissions, and " + what + ". " + fineTail
	case ReasonOwnerMismatch:
		return who + " does not own the other resource this request names. Please name a repository or organization that belongs to it."
	case ReasonIPNotAllowed:
		return "Although you appear to have the correct authorization credentials, the " + who + " " + d.level() + " has an IP allow list enabled, and your IP address is not permitted to access this resource."
	case ReasonLifetimeExceeded:
		// GitHub's words, its "a … tokens" included (SPEC §8).
		kind, path := "a fine-grained personal access tokens", "/settings/personal-access-tokens"
		if d.Class == tokenclass.Classic {
			kind, path = "a personal access tokens (classic)", "/settings/tokens"
		}
		url := "https://" + d.Host + path
		if d.TokenID != "" {
			url += "/" + d.TokenID
		}
		return "The '" + d.Subject + "' " + d.level() + " forbids access via " + kind + " if the token's lifetime is greater than " +
			strconv.Itoa(int(d.LimitDays)) + " days. Please adjust your token's lifetime at the following URL: " + url
	case ReasonNoFeed:
		return "The personal access token policy has not been loaded yet. Please try again later."
	case ReasonLookupFailed:
		return "The owner or visibility of this resource could not be determined. Please try again later."
	}
	return ""
}

// level names the kind of the decision's subject in a message.
func (d Decision) level() string {
	if d.ByEnterprise {
		return "enterprise"
	}
	return "organization"
}
