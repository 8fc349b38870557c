{{/* The chart's name, shortened to fit DNS labels. */}}
{{- define "facesearch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name, the prefix of every object. */}}
{{- define "facesearch.fullname" -}}
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

{{- define "facesearch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. app.kubernetes.io/name stays "facesearch": the index pods the
operator creates carry it too, and the NetworkPolicies select on it. */}}
{{- define "facesearch.labels" -}}
helm.sh/chart: {{ include "facesearch.chart" . }}
app.kubernetes.io/name: facesearch
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The manager pods' selector. */}}
{{- define "facesearch.managerSelectorLabels" -}}
app.kubernetes.io/name: facesearch
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/* The index pods the operator creates (internal/workload). */}}
{{- define "facesearch.indexSelectorLabels" -}}
app.kubernetes.io/name: facesearch
app.kubernetes.io/component: index
{{- end }}

{{- define "facesearch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-manager" (include "facesearch.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "facesearch.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* FACESEARCH_MODEL_PACKS: comma-separated pack directories. */}}
{{- define "facesearch.modelPackDirs" -}}
{{- $root := ternary "/models" "/opt/facesearch/models" (eq .Values.modelPacks.source "fetch") }}
{{- $dirs := list }}
{{- range .Values.modelPacks.packs }}
{{- $dirs = append $dirs (printf "%s/%s" $root .) }}
{{- end }}
{{- join "," $dirs }}
{{- end }}

{{/* NetworkPolicy egress rule to the storage: cidrs, or a selector pair, or any destination
on the storage ports. */}}
{{- define "facesearch.storageEgressRule" -}}
{{- $s := .Values.networkPolicy.storage }}
{{- $peers := list }}
{{- if $s.cidrs }}
{{- range $s.cidrs }}
{{- $peers = append $peers (dict "ipBlock" (dict "cidr" .)) }}
{{- end }}
{{- else if or $s.namespaceSelector $s.podSelector }}
{{- $peer := dict }}
{{- with $s.namespaceSelector }}{{ $_ := set $peer "namespaceSelector" . }}{{ end }}
{{- with $s.podSelector }}{{ $_ := set $peer "podSelector" . }}{{ end }}
{{- $peers = append $peers $peer }}
{{- end }}
{{- include "facesearch.egressRule" (dict "peers" $peers "ports" $s.ports "protocols" (list "TCP")) }}
{{- end }}

{{/* NetworkPolicy egress rule to the API server. */}}
{{- define "facesearch.apiServerEgressRule" -}}
{{- $peers := list }}
{{- range .Values.networkPolicy.apiServer.cidrs }}
{{- $peers = append $peers (dict "ipBlock" (dict "cidr" .)) }}
{{- end }}
{{- include "facesearch.egressRule" (dict "peers" $peers "ports" .Values.networkPolicy.apiServer.ports "protocols" (list "TCP")) }}
{{- end }}

{{/* Egress to the cluster DNS, which every pod needs to resolve Service names. */}}
{{- define "facesearch.dnsEgressRule" -}}
{{- $dns := dict "namespaceSelector" (dict) "podSelector" (dict "matchLabels" (dict "k8s-app" "kube-dns")) }}
{{- include "facesearch.egressRule" (dict "peers" (list $dns) "ports" (list 53) "protocols" (list "UDP" "TCP")) }}
{{- end }}

{{/* egressRule renders one rule as a one-item YAML list: peers (none: any destination),
ports, protocols. */}}
{{- define "facesearch.egressRule" -}}
{{- $rule := dict }}
{{- with .peers }}{{ $_ := set $rule "to" . }}{{ end }}
{{- $ports := list }}
{{- range $port := .ports }}
{{- range $.protocols }}
{{- $ports = append $ports (dict "protocol" . "port" (int $port)) }}
{{- end }}
{{- end }}
{{- $_ := set $rule "ports" $ports }}
{{- list $rule | toYaml }}
{{- end }}
