{{/*
The gateway's settings: where each service is, how tokens are checked, rate limits.
*/}}
{{- define "gleaner.gatewayEnv" -}}
{{- $root := .root }}
- name: IDENTITY_URL
  value: {{ include "gleaner.serviceUrl" (dict "root" $root "component" "identity") | quote }}
- name: SCRAPER_URL
  value: {{ include "gleaner.serviceUrl" (dict "root" $root "component" "scraper") | quote }}
- name: APP_URL
  value: {{ include "gleaner.serviceUrl" (dict "root" $root "component" "app") | quote }}
- name: JWKS_URL
  value: {{ .jwks | quote }}
- name: JWT_ISSUER
  value: {{ $root.Values.jwt.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ $root.Values.jwt.audience | quote }}
- name: RATE_LIMIT_PER_SECOND
  value: {{ $root.Values.gateway.rateLimit.perSecond | quote }}
- name: RATE_LIMIT_BURST
  value: {{ $root.Values.gateway.rateLimit.burst | quote }}
- name: TRUSTED_PROXIES
  value: {{ $root.Values.trustedProxies | quote }}
{{ include "gleaner.redisUrlEnv" $root }}
{{- end }}

{{/*
Identity's settings: its database, Redis, the signing key, token lifetimes, the admin.
*/}}
{{- define "gleaner.identityEnv" -}}
{{- $root := .root }}
{{ include "gleaner.databaseUrlEnv" (dict "root" $root "service" "identity") }}
{{ include "gleaner.redisUrlEnv" $root }}
- name: JWT_ISSUER
  value: {{ $root.Values.jwt.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ $root.Values.jwt.audience | quote }}
- name: JWT_SIGNING_KEY_FILE
  value: /etc/gleaner/jwt/signing.pem
- name: ACCESS_TOKEN_TTL
  value: {{ $root.Values.jwt.accessTokenTtl | quote }}
- name: REFRESH_TOKEN_TTL
  value: {{ $root.Values.jwt.refreshTokenTtl | quote }}
- name: TRUSTED_PROXIES
  value: {{ .trusted | quote }}
{{ include "gleaner.adminPasswordEnv" $root }}
{{- end }}

{{/*
The scraper's settings: its database, Redis, token checks, where runs may connect.
*/}}
{{- define "gleaner.scraperEnv" -}}
{{- $root := .root }}
{{ include "gleaner.databaseUrlEnv" (dict "root" $root "service" "scraper") }}
{{ include "gleaner.redisUrlEnv" $root }}
- name: JWKS_URL
  value: {{ .jwks | quote }}
- name: JWT_ISSUER
  value: {{ $root.Values.jwt.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ $root.Values.jwt.audience | quote }}
- name: SCRAPER_ALLOWED_HOSTS
  value: {{ $root.Values.operator.scraper.allowedHosts | quote }}
- name: SCRAPER_ALLOWED_NETWORKS
  value: {{ $root.Values.operator.scraper.allowedNetworks | quote }}
{{- end }}

{{/*
The app's settings: its database, Redis, token checks, the scraper and identity, where
scrape jobs live (ScrapeJob resources when the operator is deployed), and where runs may
connect (a job naming another host is refused when created or changed), and where
webhooks may be delivered.
*/}}
{{- define "gleaner.appEnv" -}}
{{- $root := .root }}
{{ include "gleaner.databaseUrlEnv" (dict "root" $root "service" "app") }}
{{ include "gleaner.redisUrlEnv" $root }}
- name: JWKS_URL
  value: {{ .jwks | quote }}
- name: JWT_ISSUER
  value: {{ $root.Values.jwt.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ $root.Values.jwt.audience | quote }}
- name: SCRAPER_URL
  value: {{ include "gleaner.serviceUrl" (dict "root" $root "component" "scraper") | quote }}
- name: IDENTITY_URL
  value: {{ include "gleaner.serviceUrl" (dict "root" $root "component" "identity") | quote }}
- name: APP_JOBS_BACKEND
  value: {{ if $root.Values.operator.enabled }}kubernetes{{ else }}database{{ end }}
- name: SCRAPER_ALLOWED_HOSTS
  value: {{ $root.Values.operator.scraper.allowedHosts | quote }}
- name: SCRAPER_ALLOWED_NETWORKS
  value: {{ $root.Values.operator.scraper.allowedNetworks | quote }}
- name: WEBHOOK_ALLOWED_NETWORKS
  value: {{ $root.Values.app.webhooks.allowedNetworks | quote }}
- name: WEBHOOK_ALLOW_HTTP
  value: {{ $root.Values.app.webhooks.allowHttp | quote }}
- name: WEBHOOK_CONCURRENCY
  value: {{ $root.Values.app.webhooks.concurrency | quote }}
{{ include "gleaner.adminPasswordEnv" $root }}
{{- end }}
