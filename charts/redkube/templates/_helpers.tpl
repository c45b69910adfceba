{{/*
The chart's name, shortened to Kubernetes' 63-character label limit.
*/}}
{{- define "redkube.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, else the release name
when it contains the chart's name, else "<release>-<chart>".
*/}}
{{- define "redkube.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The labels that select the operator's pods (Deployment, Service, PDB,
anti-affinity).
*/}}
{{- define "redkube.selectorLabels" -}}
app.kubernetes.io/name: {{ include "redkube.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
The labels of every object of the release.
*/}}
{{- define "redkube.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "redkube.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: redkube
{{- end }}

{{/*
The operator's ServiceAccount.
*/}}
{{- define "redkube.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "redkube.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image: repository@digest when a digest is set, else
repository:tag, the tag defaulting to the chart's appVersion.
*/}}
{{- define "redkube.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
The operator's RBAC rules, generated from the +kubebuilder:rbac markers by
hack/generate.sh into files/manager-rules.yaml: a dict with "namespaced" and
"cluster" rule lists, as YAML.
*/}}
{{- define "redkube.managerRules" -}}
{{- $rules := .Files.Get "files/manager-rules.yaml" | fromYaml }}
{{- if or (hasKey $rules "Error") (not $rules.namespaced) (not $rules.cluster) }}
{{- fail "files/manager-rules.yaml is missing or malformed: run hack/generate.sh" }}
{{- end }}
{{- toYaml $rules }}
{{- end }}

{{/*
A map of labels or annotations with every value a string: helm --set reads
podAnnotations.a=1 as a number, which Kubernetes refuses in metadata.
*/}}
{{- define "redkube.stringMap" -}}
{{- $out := dict }}
{{- range $k, $v := . }}
{{- $_ := set $out $k (toString $v) }}
{{- end }}
{{- toYaml $out }}
{{- end }}
