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

{{/* The api pods' selector. */}}
{{- define "facesearch.apiSelectorLabels" -}}
app.kubernetes.io/name: facesearch
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}

{{/* The api Service's name; the api pods get it as --api-service-name, to count the replicas
that share each key's rate limit from its endpoints. */}}
{{- define "facesearch.apiServiceName" -}}
{{- printf "%s-api" (include "facesearch.fullname" .) }}
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

{{- define "facesearch.apiServiceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (printf "%s-api" (include "facesearch.fullname" .)) .Values.api.serviceAccount.name }}
{{- else }}
{{- required "api.serviceAccount.name is required when api.serviceAccount.create is false" .Values.api.serviceAccount.name }}
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

{{/* modelPacks.source=fetch: the model packs come from an init container. */}}
{{- define "facesearch.fetchModelPacks" -}}
{{- if not (has .Values.modelPacks.source (list "image" "fetch")) }}
{{- fail "modelPacks.source must be image or fetch" }}
{{- end }}
{{- if eq .Values.modelPacks.source "fetch" }}true{{ end }}
{{- end }}

{{/* The init container that fetches the model packs into the model-packs emptyDir, which
every pod that embeds faces (manager, api) reads them from; each archive is checked against
its pinned sha256 before it is unpacked. Rendered as a one-item list. */}}
{{- define "facesearch.modelPackInitContainer" -}}
- name: fetch-model-packs
  image: {{ .Values.modelPacks.fetch.image }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: ["sh", "-euc"]
  args:
    - |
      {{- range .Values.modelPacks.packs }}
      {{- $url := required (printf "modelPacks.fetch.urls.%s is required when modelPacks.source is fetch" .) (get $.Values.modelPacks.fetch.urls .) }}
      {{- $sum := required (printf "modelPacks.fetch.sha256.%s is required when modelPacks.source is fetch: the sha256 of the pack's archive (sha256sum %s.tar.gz)" . .) (get (default dict $.Values.modelPacks.fetch.sha256) .) }}
      {{- if not (regexMatch "^[0-9a-f]{64}$" $sum) }}
      {{- fail (printf "modelPacks.fetch.sha256.%s must be 64 lower-case hex digits" .) }}
      {{- end }}
      mkdir -p /models/{{ . }}
      wget -q -O /models/{{ . }}.tar.gz {{ $url | quote }}
      echo "{{ $sum }}  /models/{{ . }}.tar.gz" > /models/{{ . }}.sha256
      sha256sum -c /models/{{ . }}.sha256 || { echo "model pack {{ . }}: the archive from {{ $url }} does not match modelPacks.fetch.sha256.{{ . }}" >&2; exit 1; }
      tar -xzf /models/{{ . }}.tar.gz -C /models/{{ . }}
      rm /models/{{ . }}.tar.gz /models/{{ . }}.sha256
      test -f /models/{{ . }}/manifest.json
      {{- end }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml .Values.modelPacks.fetch.resources | nindent 4 }}
  volumeMounts:
    - name: model-packs
      mountPath: /models
{{- end }}

{{/* The emptyDir of the fetched model packs, as a one-item list of volumes. */}}
{{- define "facesearch.modelPackVolume" -}}
- name: model-packs
  emptyDir:
    sizeLimit: {{ .Values.modelPacks.fetch.sizeLimit }}
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

{{/* The egress rules of the pods that search the index (manager, api), as a YAML list. */}}
{{- define "facesearch.searchClientEgress" -}}
# The Kubernetes API server.
{{ include "facesearch.apiServerEgressRule" . }}
# The storage (MinIO/S3).
{{ include "facesearch.storageEgressRule" . }}
# The search port of the index shards of every Collection.
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          {{- include "facesearch.indexSelectorLabels" . | nindent 10 }}
  ports:
    - protocol: TCP
      port: 8080
# DNS.
{{ include "facesearch.dnsEgressRule" . }}
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

{{/* How the API's certificate is provided: none (plain HTTP or no API), secret (the user's
api.tls.secretName), cert-manager, or helm (a CA generated by Helm, kept across upgrades). */}}
{{- define "facesearch.apiTLSSource" -}}
{{- if not (and .Values.api.enabled .Values.api.tls.enabled) -}}
none
{{- else if .Values.api.tls.secretName -}}
secret
{{- else if and .Values.api.tls.certManager.enabled (.Capabilities.APIVersions.Has "cert-manager.io/v1") -}}
cert-manager
{{- else -}}
helm
{{- end }}
{{- end }}

{{/* The Secret (tls.crt, tls.key, ca.crt) the api pods serve the API from; empty without TLS. */}}
{{- define "facesearch.apiTLSSecretName" -}}
{{- if ne (include "facesearch.apiTLSSource" .) "none" }}
{{- default (printf "%s-api-tls" (include "facesearch.fullname" .)) .Values.api.tls.secretName }}
{{- end }}
{{- end }}

{{/* The api Service's DNS names and api.tls.extraDNSNames, as a JSON list. */}}
{{- define "facesearch.apiDNSNames" -}}
{{- $svc := include "facesearch.apiServiceName" . }}
{{- $ns := .Release.Namespace }}
{{- $names := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.manager.clusterDomain) }}
{{- concat $names .Values.api.tls.extraDNSNames | uniq | toJson }}
{{- end }}

{{/* How the sidecar injection webhook gets its certificate: none (no injection: turned off,
or no api for the sidecar to call), cert-manager (a Certificate mounted into the manager;
cert-manager's CA injector writes the caBundle) or self (the manager keeps a CA and a
certificate in a Secret and writes the caBundle). */}}
{{- define "facesearch.webhookCertMode" -}}
{{- if not (and .Values.sidecar.injection.enabled .Values.api.enabled .Values.api.serviceAccountTokens.enabled) -}}
none
{{- else if and .Values.sidecar.injection.certManager.enabled (.Capabilities.APIVersions.Has "cert-manager.io/v1") -}}
cert-manager
{{- else -}}
self
{{- end }}
{{- end }}

{{/* The webhook's Service, its certificate's Secret and the MutatingWebhookConfiguration. */}}
{{- define "facesearch.webhookServiceName" -}}
{{- printf "%s-webhook" (include "facesearch.fullname" .) }}
{{- end }}

{{- define "facesearch.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "facesearch.fullname" .) }}
{{- end }}

{{- define "facesearch.sidecarInjectorName" -}}
{{- printf "%s-sidecar-injector" (include "facesearch.fullname" .) }}
{{- end }}

{{/* The api's URL inside the cluster, which the sidecar calls. */}}
{{- define "facesearch.sidecarEndpoint" -}}
{{- printf "%s://%s.%s.svc:%v" (ternary "https" "http" (ne (include "facesearch.apiTLSSecretName" .) "")) (include "facesearch.apiServiceName" .) .Release.Namespace .Values.api.port }}
{{- end }}
