package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/smithy-go"

	"github.com/facesearch/facesearch-operator/internal/bulk"
)

// clientFlags are the flags of the commands that call an endpoint as any SDK client does
// (search, enrol): where it is, which region to sign for and which CA to trust. The key
// pair comes from the environment, as for the AWS CLI.
type clientFlags struct {
	endpoint, region, caFile string
	quiet                    bool
}

func (c *clientFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoint, "endpoint", "", "the Rekognition API's URL (default: $FACESEARCH_ENDPOINT, else $AWS_ENDPOINT_URL_REKOGNITION)")
	fs.StringVar(&c.region, "region", "", "the region to sign requests for (default: $AWS_REGION, else us-east-1)")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM file of the CA that signed the endpoint's certificate (default: $FACESEARCH_CA_FILE, else $AWS_CA_BUNDLE, else the system's)")
	fs.BoolVar(&c.quiet, "quiet", false, "show no progress on stderr (errors still are)")
}

// firstSet is the first non-empty value: a flag, then the environment variables in order.
func firstSet(flagValue string, envs ...string) string {
	if flagValue != "" {
		return flagValue
	}
	for _, e := range envs {
		if v := os.Getenv(e); v != "" {
			return v
		}
	}
	return ""
}

// client is a Rekognition client for the endpoint, with the key pair of the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for temporary keys, AWS_SESSION_TOKEN).
func (c *clientFlags) client() (*rekognition.Client, error) {
	endpoint := firstSet(c.endpoint, "FACESEARCH_ENDPOINT", "AWS_ENDPOINT_URL_REKOGNITION")
	if endpoint == "" {
		return nil, errors.New("no endpoint: give --endpoint or set FACESEARCH_ENDPOINT (make run-local prints its URL)")
	}
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil, errors.New("no access key: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	region := firstSet(c.region, "AWS_REGION", "AWS_DEFAULT_REGION")
	if region == "" {
		// Any region is accepted; SigV4 needs one.
		region = "us-east-1"
	}
	opts := rekognition.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, os.Getenv("AWS_SESSION_TOKEN")),
	}
	if ca := firstSet(c.caFile, "FACESEARCH_CA_FILE", "AWS_CA_BUNDLE"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("while reading the CA file: %w", err)
		}
		// The system's roots too: the file adds a private CA, it does not replace them.
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", ca)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	return rekognition.New(opts), nil
}

// apiError is an endpoint's error as a person reads it: the operation, then Rekognition's
// error type and message, without the SDK's request ids and status lines.
func apiError(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s: %s", op, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("%s: %w", op, err)
}

// errorCode is Rekognition's error type of err, or "" for an error that is no API error.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// parseInterspersed parses flags wherever they stand among the arguments, so that
// `facesearch search photo.jpg --collection people` works as the other order does; "--"
// ends the flags. It returns the other arguments in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if consumed := len(args) - len(left); consumed > 0 && args[consumed-1] == "--" {
			return append(rest, left...), nil
		}
		if len(left) == 0 {
			return rest, nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// sanitizeID makes a name fit Rekognition's ExternalImageId pattern [a-zA-Z0-9_.\-:]+ (at
// most 255): path separators become ':', anything else outside the pattern '_'. It is the
// rule bulk-enrol names photos in a bucket by (bulk.ExternalIDOf), so that both commands give
// a photo the same ExternalImageId.
func sanitizeID(name string) string {
	return bulk.ExternalIDOf(filepath.ToSlash(name))
}
