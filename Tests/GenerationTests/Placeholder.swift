enum GenerationTestsPlaceholder {}
