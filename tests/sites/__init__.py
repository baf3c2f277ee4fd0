"""Small local web sites that the spider tests serve on 127.0.0.1."""
