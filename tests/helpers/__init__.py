"""What the tests share: instances, forms, live servers, browsers, load. No test module imports another."""
