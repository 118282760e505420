{{/*
Labels every object of the chart carries.
*/}}
{{- define "gleaner.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: gleaner
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/*
The name of a component's objects: "<release>-<component>".
Call with (dict "root" $ "component" "gateway").
*/}}
{{- define "gleaner.fullname" -}}
{{- printf "%s-%s" .root.Release.Name .component | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/*
The labels that select a component's pods.
*/}}
{{- define "gleaner.selectorLabels" -}}
app.kubernetes.io/name: gleaner-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/*
All labels of a component's objects.
*/}}
{{- define "gleaner.componentLabels" -}}
{{ include "gleaner.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: gleaner
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{/*
A Gleaner image: "<image.registry>/<name>:<image.tag or appVersion>".
Call with (dict "root" $ "name" "scraper").
*/}}
{{- define "gleaner.image" -}}
{{- printf "%s/%s:%s" (.root.Values.image.registry | trimSuffix "/") .name (.root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end }}

{{/*
The pod securityContext of every Gleaner pod: the `restricted` Pod Security Standard,
uid 65532 (distroless "nonroot"). Call with the uid (65532 for Gleaner images).
*/}}
{{- define "gleaner.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The container securityContext of every container: nothing to escalate, no capability,
a read-only root filesystem. Call with the uid.
*/}}
{{- define "gleaner.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ . }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
GLEANER_ENV of every service: production (the default) or development.
*/}}
{{- define "gleaner.environment" -}}
{{- $env := .Values.environment | default "production" -}}
{{- if not (has $env (list "production" "development")) -}}
{{- fail (printf "environment must be production or development, not %q" $env) -}}
{{- end -}}
{{- $env -}}
{{- end }}

{{/*
The namespace the operator watches: the release namespace unless operator.watchNamespace
names another one; "*" means every namespace (and a ClusterRole).
*/}}
{{- define "gleaner.watchNamespace" -}}
{{- .Values.operator.watchNamespace | default .Release.Namespace -}}
{{- end }}

{{/*
"true" when the operator watches every namespace.
*/}}
{{- define "gleaner.clusterWide" -}}
{{- if eq (include "gleaner.watchNamespace" .) "*" }}true{{ end -}}
{{- end }}

{{/*
The namespace run pods (and their NetworkPolicy) live in: the watched namespace, or the
release namespace when every namespace is watched.
*/}}
{{- define "gleaner.runNamespace" -}}
{{- if include "gleaner.clusterWide" . }}{{ .Release.Namespace }}{{ else }}{{ include "gleaner.watchNamespace" . }}{{ end -}}
{{- end }}

{{/*
The Secret and key of a service's DATABASE_URL. Call with (dict "root" $ "service" "identity").
*/}}
{{- define "gleaner.databaseUrlEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if .root.Values.postgresql.enabled }}
      name: {{ include "gleaner.fullname" (dict "root" .root "component" "database") }}
      key: {{ .service }}
      {{- else }}
      name: {{ required "externalDatabase.existingSecret is required when postgresql.enabled is false" .root.Values.externalDatabase.existingSecret }}
      key: {{ index .root.Values.externalDatabase.keys .service }}
      {{- end }}
{{- end }}

{{/*
REDIS_URL from the in-chart Redis' Secret or the external one.
*/}}
{{- define "gleaner.redisUrlEnv" -}}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.redis.enabled }}
      name: {{ include "gleaner.fullname" (dict "root" . "component" "redis") }}
      key: url
      {{- else }}
      name: {{ required "externalRedis.existingSecret is required when redis.enabled is false" .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.key }}
      {{- end }}
{{- end }}

{{/*
The OTLP endpoint services export traces to (empty: none).
*/}}
{{- define "gleaner.otelEndpoint" -}}
{{- if .Values.otelCollector.enabled -}}
http://{{ include "gleaner.fullname" (dict "root" . "component" "otel-collector") }}:4317
{{- else -}}
{{- .Values.otel.endpoint -}}
{{- end -}}
{{- end }}

{{/*
What every Gleaner container is told: where to listen, how to log, where traces go.
Call with (dict "root" $ "component" "gateway" "port" 8080 "logLevel" "info").
*/}}
{{- define "gleaner.commonEnv" -}}
- name: LISTEN_ADDR
  value: "0.0.0.0:{{ .port }}"
- name: LOG_FORMAT
  value: {{ .root.Values.logFormat | quote }}
- name: RUST_LOG
  value: {{ .logLevel | quote }}
- name: GLEANER_ENV
  value: {{ include "gleaner.environment" .root | quote }}
{{- with include "gleaner.otelEndpoint" .root }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ $.component | quote }}
{{- else }}
- name: OTEL_SDK_DISABLED
  value: "true"
{{- end }}
{{- end }}

{{/*
The internal URL of a service. Call with (dict "root" $ "component" "identity").
*/}}
{{- define "gleaner.serviceUrl" -}}
http://{{ include "gleaner.fullname" . }}:{{ (index .root.Values .component).port }}
{{- end }}

{{/*
A service's Deployment: restricted pod, probes on /ready and /health, resources, /tmp as
an emptyDir, settings from `env`. Call with
(dict "root" $ "component" "gateway" "values" .Values.gateway "env" (list ...) "volumes" ... "mounts" ... "serviceAccount" "").
*/}}
{{- define "gleaner.deployment" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $name := include "gleaner.fullname" . }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "gleaner.componentLabels" . | nindent 4 }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "gleaner.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "gleaner.componentLabels" . | nindent 8 }}
      {{- with $v.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- if .serviceAccount }}
      serviceAccountName: {{ .serviceAccount }}
      automountServiceAccountToken: true
      {{- else }}
      automountServiceAccountToken: false
      {{- end }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      terminationGracePeriodSeconds: 30
      securityContext:
        {{- include "gleaner.podSecurityContext" 65532 | nindent 8 }}
      {{- if and .migrate $root.Values.postgresql.enabled }}
      # The in-chart PostgreSQL only exists once the release is installed, so the first
      # install migrates here (idempotent; sqlx serialises replicas with an advisory lock).
      initContainers:
        - name: migrate
          image: {{ include "gleaner.image" (dict "root" $root "name" .component) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["migrate"]
          env:
            - name: LOG_FORMAT
              value: {{ $root.Values.logFormat | quote }}
            {{- include "gleaner.databaseUrlEnv" (dict "root" $root "service" .component) | nindent 12 }}
          resources:
            {{- toYaml $root.Values.migrations.resources | nindent 12 }}
          securityContext:
            {{- include "gleaner.containerSecurityContext" 65532 | nindent 12 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "gleaner.image" (dict "root" $root "name" .component) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          {{- with .command }}
          args: {{ toJson . }}
          {{- end }}
          ports:
            - name: http
              containerPort: {{ $v.port }}
              protocol: TCP
          env:
            {{- include "gleaner.commonEnv" (dict "root" $root "component" .component "port" $v.port "logLevel" $v.logLevel) | nindent 12 }}
            # SIGTERM: /ready 503 and still accepting for this long, then drain (values.yaml).
            - name: SHUTDOWN_DELAY
              value: {{ $root.Values.shutdownDelay | quote }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          readinessProbe:
            httpGet:
              path: /ready
              port: http
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: /health
              port: http
            initialDelaySeconds: 5
            periodSeconds: 20
            timeoutSeconds: 3
            failureThreshold: 3
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- include "gleaner.containerSecurityContext" 65532 | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with .mounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/*
A component's ClusterIP Service on its port (named "http").
Call with (dict "root" $ "component" "gateway" "port" 8080).
*/}}
{{- define "gleaner.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "gleaner.fullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "gleaner.componentLabels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "gleaner.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
{{- end }}

{{/*
A component's PodDisruptionBudget. Call with (dict "root" $ "component" "gateway" "maxUnavailable" 1).
*/}}
{{- define "gleaner.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "gleaner.fullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "gleaner.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .maxUnavailable }}
  selector:
    matchLabels:
      {{- include "gleaner.selectorLabels" . | nindent 6 }}
{{- end }}

{{/*
A component's HorizontalPodAutoscaler on CPU. Call with (dict "root" $ "component" "gateway" "autoscaling" ...).
*/}}
{{- define "gleaner.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "gleaner.fullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "gleaner.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "gleaner.fullname" . }}
  minReplicas: {{ .autoscaling.minReplicas }}
  maxReplicas: {{ .autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .autoscaling.targetCPUUtilizationPercentage }}
{{- end }}

{{/*
A component's ServiceMonitor on the Service port "<port>". Call with (dict "root" $ "component" "gateway" "port" "http").
*/}}
{{- define "gleaner.serviceMonitor" -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "gleaner.fullname" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "gleaner.componentLabels" . | nindent 4 }}
    {{- with .root.Values.monitoring.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "gleaner.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: {{ .port }}
      path: /metrics
      interval: {{ .root.Values.monitoring.serviceMonitor.interval }}
{{- end }}

{{/*
A migration hook Job running `<component> migrate` with the component's DATABASE_URL,
before every install and upgrade. With the in-chart PostgreSQL, which does not exist
before the install, only before upgrades: the first install migrates in the services'
init containers.
Call with (dict "root" $ "component" "identity").
*/}}
{{- define "gleaner.migrationJob" -}}
{{- $root := .root }}
{{- $name := printf "%s-migrate" (include "gleaner.fullname" .) | trunc 63 | trimSuffix "-" }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "gleaner.labels" $root | nindent 4 }}
    app.kubernetes.io/name: gleaner-{{ .component }}-migrate
    app.kubernetes.io/component: migrate
  annotations:
    helm.sh/hook: {{ if $root.Values.postgresql.enabled }}pre-upgrade{{ else }}pre-install,pre-upgrade{{ end }}
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $root.Values.migrations.backoffLimit }}
  ttlSecondsAfterFinished: 3600
  template:
    metadata:
      labels:
        app.kubernetes.io/name: gleaner-{{ .component }}-migrate
        app.kubernetes.io/instance: {{ $root.Release.Name }}
        app.kubernetes.io/component: migrate
        app.kubernetes.io/part-of: gleaner
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      securityContext:
        {{- include "gleaner.podSecurityContext" 65532 | nindent 8 }}
      containers:
        - name: migrate
          image: {{ include "gleaner.image" (dict "root" $root "name" .component) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["migrate"]
          env:
            - name: LOG_FORMAT
              value: {{ $root.Values.logFormat | quote }}
            {{- include "gleaner.databaseUrlEnv" (dict "root" $root "service" .component) | nindent 12 }}
          resources:
            {{- toYaml $root.Values.migrations.resources | nindent 12 }}
          securityContext:
            {{- include "gleaner.containerSecurityContext" 65532 | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 16Mi
{{- end }}

{{/*
The Secret holding the JWT signing key.
*/}}
{{- define "gleaner.signingKeySecret" -}}
{{- .Values.jwt.signingKey.existingSecret | default (include "gleaner.fullname" (dict "root" . "component" "jwt-signing-key")) -}}
{{- end }}

{{/*
The Secret holding the first admin's password (empty: none).
*/}}
{{- define "gleaner.adminPasswordEnv" -}}
- name: GLEANER_ADMIN_EMAIL
  value: {{ .Values.admin.email | quote }}
{{- with .Values.admin.existingSecret }}
- name: GLEANER_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: password
{{- end }}
{{- end }}

{{/*
The run pods the operator creates, as a NetworkPolicy peer (in the namespace they run in).
*/}}
{{- define "gleaner.runPeer" -}}
podSelector:
  matchLabels:
    app.kubernetes.io/component: scrape-run
    app.kubernetes.io/managed-by: gleaner-operator
{{- if not (include "gleaner.clusterWide" .) }}
namespaceSelector:
  matchLabels:
    kubernetes.io/metadata.name: {{ include "gleaner.runNamespace" . }}
{{- else }}
namespaceSelector: {}
{{- end }}
{{- end }}
