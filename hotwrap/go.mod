module hotfn/hotwrap

go 1.21
