// @generated PLACEHOLDER
