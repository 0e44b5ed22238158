{{/* Labels every object of the release carries. */}}
{{- define "tenantgate.labels" -}}
app.kubernetes.io/name: tenantgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "tenantgate.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The hardened container securityContext both processes run with. */}}
{{- define "tenantgate.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Where the API server reaches the webhook: the in-cluster Service, or webhook.url. */}}
{{- define "tenantgate.clientConfig" -}}
{{- if .root.Values.webhook.url }}
url: {{ printf "%s%s" (trimSuffix "/" .root.Values.webhook.url) .path | quote }}
{{- else }}
service:
  name: tenantgate-webhook
  namespace: {{ .root.Release.Namespace }}
  path: {{ .path | quote }}
  port: 443
{{- end }}
{{- with .root.Values.webhook.caBundle }}
caBundle: {{ . | quote }}
{{- end }}
{{- end }}

{{/* With cert-manager, its CA injector fills caBundle from the webhook's Certificate. */}}
{{- define "tenantgate.webhookAnnotations" -}}
{{- if and .Values.certs.certManager.enabled (not .Values.webhook.url) }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/tenantgate-webhook" .Release.Namespace }}
{{- end }}
{{- end }}
