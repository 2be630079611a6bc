// Starts ReDoc over the API's OpenAPI document (a file, not an inline script: the CSP forbids
// those). The document's address and the styles' nonce are the page's `data-spec-url` and `data-nonce`.
const root = document.getElementById('redoc');
window.Redoc.init(root.dataset.specUrl, { nonce: root.dataset.nonce }, root);
