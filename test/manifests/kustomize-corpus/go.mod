module lading/kustomize-corpus

go 1.22
