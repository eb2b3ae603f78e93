// The help texts: the overview (no arguments, help, --help) and one per command (COMMAND --help).
// Kept apart from the parser so both stay short and the texts are easy to review together.

export const USAGE = `usage: pmf-guard <command> [options]

Commands:
  start         run pmf-guard (every role in one process by default)
  status        what a running instance's status page shows, in the terminal
  report        the zombie-feature report of a running instance (table or JSON)
  rules check   validate a rules file and show what would be guarded and how
  replay        re-run recorded events offline through the rules; writes no flag
  export        write the recorded events to a file replay can read anywhere
  help          this text; \`pmf-guard COMMAND --help\` describes one command

With none of KAFKA_BROKERS, DATABASE_URL and REDIS_URL set, every role runs in one process on an
embedded log and store under ./.data: OTLP gRPC on :4317, OTLP/HTTP on :4318, and the admin API
(status page at /status, /metrics, /v1/...) on :8080.

Environment:
  PMF_GUARD_CONFIG            config file (YAML or JSON), like --config
  PMF_GUARD_RULES             rules file, like --rules
  PMF_GUARD_DATA_DIR          embedded log, store and generated key (default .data)
  PMF_GUARD_OTLP_GRPC_PORT    OTLP gRPC port (default 4317)
  PMF_GUARD_OTLP_HTTP_PORT    OTLP/HTTP port (default 4318)
  PMF_GUARD_ADMIN_PORT        admin API port (default 8080)
  KAFKA_BROKERS, DATABASE_URL, REDIS_URL (or REDIS_CLUSTER_NODES)   the distributed mode
  PMF_GUARD_PSEUDONYM_KEY[_FILE]       HMAC key for user ids
  PMF_GUARD_BEARER_TOKEN[_FILE]        turns on bearer auth (OTLP and admin); status/report send it
  PMF_GUARD_WEBHOOK_SIGNING_KEY[_FILE] HMAC key of webhook signatures
  PMF_GUARD_LOG_LEVEL         debug, info, warn or error

Exit codes: 0 success, 1 failure, 2 bad usage, configuration or rules.`;

export const COMMAND_HELP: Record<string, string> = {
  start: `usage: pmf-guard start [--role receiver|aggregator|verdict|flag-writer|all] [--config FILE] [--rules FILE]

Runs pmf-guard until SIGTERM or SIGINT (it drains, then exits 0); SIGHUP reloads the rules file.
  --role ROLE     which part to run (default all: every role in one process)
  --config FILE   config file (or PMF_GUARD_CONFIG)
  --rules FILE    rules file (or PMF_GUARD_RULES); without one, nothing is judged
Listens on OTLP gRPC :4317, OTLP/HTTP :4318 and the admin API :8080 (PMF_GUARD_OTLP_GRPC_PORT,
PMF_GUARD_OTLP_HTTP_PORT, PMF_GUARD_ADMIN_PORT); the start-up log names the hosts and data directory.`,
  status: `usage: pmf-guard status [--url URL] [--config FILE] [--json]

Asks a running instance (the verdict role's admin port) for every feature and cohort: outcome, PMF
score, flag state and the last change with its reason.
  --url URL       admin API base URL (default: from the config, http://127.0.0.1:8080)
  --config FILE   read the admin host/port from this config (or PMF_GUARD_CONFIG)
  --json          print the JSON the instance returned
Sends PMF_GUARD_BEARER_TOKEN (or the first token of PMF_GUARD_BEARER_TOKEN_FILE) when set.`,
  report: `usage: pmf-guard report [--url URL] [--config FILE] [--from ISO] [--to ISO] [--json]

The zombie-feature report of a running instance over an event-time period: exposed users and
requests, total span time, activation, verdict, zombie mark (activation below report.engagementFloor)
and each cohort's PMF score.
  --from ISO, --to ISO   period in event time (default: everything the log keeps)
  --url URL, --config FILE, --json   as for status`,
  rules: `usage: pmf-guard rules check FILE [--json]

Validates a rules file (every problem is listed; exit 2 when invalid) and shows, per feature, what
would be guarded and how: cohorts, guards and thresholds, windows, alpha, mode and webhooks.`,
  replay: `usage: pmf-guard replay --rules FILE [--input EXPORT.jsonl] [--from-offset N | --from-time ISO] [--step-seconds N] [--config FILE]

Re-runs the recorded events (the configured log's events topic, or a file from export) through the
rules and prints JSON lines: verdicts, the commands that would have been sent, and a summary. It
writes no flag. A progress bar goes to stderr when stderr is a terminal.`,
  export: `usage: pmf-guard export --out EXPORT.jsonl [--config FILE]

Writes the configured log's events topic to a file replay can read anywhere. The file appears only
when the export succeeded (it is written aside and renamed); a failed export leaves no file.`,
};
