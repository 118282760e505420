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
GLEANER_ENV of every service: production (the default) or development.
*/}}
{{- define "gleaner.environment" -}}
{{- $env := .Values.environment | default "production" -}}
{{- if not (has $env (list "production" "development")) -}}
{{- fail (printf "environment must be production or development, not %q" $env) -}}
{{- end -}}
{{- $env -}}
{{- end }}
